"""How much memory a fit needs, checked before any of it is allocated.

``n_factors=10_000_000`` on MovieLens-100K asks for factor matrices of 35 GiB, and ALS
with K=100,000 for a (K+1) x (K+1) float64 system (80 GB) on every thread; allocating
them fails late, as a MemoryError, a numba SystemError or the kernel's OOM killer.
Each model's ``_fit`` therefore first adds up its main arrays, here, and refuses with a
:class:`~latentrec.ParameterError` when they exceed the memory available now.

The estimates are rough but never low: the factor matrices (users x K and items x K in
the dtype they are trained in), the copies a fit makes of them (the best epoch's, the
refit's, the kept samples), each thread's scratch, and the arrays as long as the ratings.
Memory available is Linux's MemAvailable (psutil is not a dependency); where it cannot be
read, nothing is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ParameterError
from .ranking import _SPREAD_PAIRS, AUTO_RANKS
from .threads import resolve_threads

GIB = 1 << 30
_MEMINFO = Path("/proc/meminfo")
#: Bytes a rating takes in a split or a grouped (CSR) copy of the ratings: int32 user and
#: item, float32 value, int64 timestamp.
_RATING_BYTES = 20
#: The interaction part's SVD (models/ranking.py) holds a few blocks of its rank plus this.
_SVD_OVERSAMPLE = 10
#: What the factorization machine's fit adds for each training rating: measured 185-255
#: bytes (synthetic ratings of 1-2 million, K=10 and 32, the implicit sets on: the
#: design's blocks, the sampler's errors and sums, the new-entity subsample), with room.
_FM_RATING_BYTES = 320
#: and what it takes whatever the ratings (39 MB measured on 900 ratings at K=64).
_FM_FIXED_BYTES = 64 << 20


def available() -> int | None:
    """Bytes of memory available to a new allocation now, or None where unknown."""
    try:
        for line in _MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def require(model, ratings, needed: int) -> None:
    """ParameterError when ``needed`` bytes (the fit's estimate) exceed what is free."""
    free = available()
    if free is None or needed <= free:
        return
    raise ParameterError(
        f"{type(model).__name__} with n_factors={model.n_factors:,} on {ratings.n_users:,} "
        f"users x {ratings.n_items:,} items would need about {needed / GIB:.1f} GiB of "
        f"memory, but {free / GIB:.1f} GiB is available now: use a smaller n_factors")


def factor_bytes(ratings, k: int, itemsize: int) -> int:
    """The users x K and items x K factor matrices."""
    return (ratings.n_users + ratings.n_items) * int(k) * int(itemsize)


def ranking_bytes(model, ratings, width: int, itemsize: int) -> int:
    """The interaction part the rating models fit after their factors (models/ranking.py):
    a few float64 blocks of users and items by its rank, and the sample of predicted
    ratings its spread comes from (each pair's user and item factors, ``width`` of them
    stored in ``itemsize`` bytes, the user's also in float64)."""
    if model.ranking_factors == 0:
        return 0
    rank = model.ranking_factors
    rank = max(AUTO_RANKS) if rank == "auto" else int(rank)
    rank = min(rank, ratings.n_users, ratings.n_items) + _SVD_OVERSAMPLE
    spread = _SPREAD_PAIRS * int(width) * (2 * int(itemsize) + 8)
    return 4 * factor_bytes(ratings, rank, 8) + spread


def sgd_bytes(model, ratings, copies: int) -> int:
    """SGDMatrixFactorization: ``copies`` sets of factors at once (the training ones, the
    best epoch's kept while training goes on, the search's beside the refit's), the
    standardised values and the block layout (a reordered copy of the ratings)."""
    itemsize = np.dtype(model.dtype).itemsize
    return (copies * factor_bytes(ratings, model.n_factors, itemsize)
            + 2 * _RATING_BYTES * ratings.n_ratings
            + ranking_bytes(model, ratings, model.n_factors, itemsize))


def als_bytes(model, ratings) -> int:
    """ALSMatrixFactorization: float64 factors, their scaled copy and the stored ones;
    each thread's (K+1) x (K+1) normal equations; the ratings grouped both ways."""
    k = model.n_factors
    solve = ((k + 1) ** 2 + 2 * (k + 1)) * 8 * resolve_threads(model.n_threads)
    itemsize = np.dtype(model.dtype).itemsize
    return (2 * factor_bytes(ratings, k, 8) + factor_bytes(ratings, k, itemsize) + solve
            + 3 * _RATING_BYTES * ratings.n_ratings + ranking_bytes(model, ratings, k, itemsize))


def bpmf_bytes(model, ratings) -> int:
    """BayesianMatrixFactorization: the float64 factors, the noise drawn for them, the kept
    samples (twice: stacked, then scaled), each thread's K x K precision and its Cholesky
    factor, the Normal-Wishart draws' K x K matrices; the ratings grouped both ways."""
    k = model.n_factors
    kept = min(model.keep, model.n_samples)
    per_thread = 2 * k * k * 8 * resolve_threads(model.n_threads, ratings.n_ratings)
    return ((3 + 2 * kept) * factor_bytes(ratings, k, 8) + per_thread + 8 * k * k * 8
            + 3 * _RATING_BYTES * ratings.n_ratings + ranking_bytes(model, ratings, kept * k, 8))


def fm_bytes(model, ratings) -> int:
    """The factorization machine: its arrays as long as the ratings, and its factor
    matrices with the posterior mean's low-rank sums (up to 8K columns, float64)."""
    return (_FM_FIXED_BYTES + _FM_RATING_BYTES * ratings.n_ratings
            + factor_bytes(ratings, 10 * model.n_factors, 8))


def implicit_als_bytes(model, ratings) -> int:
    """ImplicitALS: the factors, Y'Y, and each thread's rows of the longest user's or
    item's items (or users) times K; the confidences grouped both ways."""
    k, itemsize = model.n_factors, np.dtype(model.dtype).itemsize
    longest = max(_longest_row(ratings.users, ratings.n_users),
                  _longest_row(ratings.items, ratings.n_items))
    scratch = (longest + 4) * k * itemsize * resolve_threads(model.n_threads)
    return (factor_bytes(ratings, k, itemsize) + 2 * k * k * itemsize + scratch
            + 3 * _RATING_BYTES * ratings.n_ratings)


def bpr_bytes(model, ratings) -> int:
    """BPR: factors with a bias column, drawn in float64 (two temporaries of the larger
    side), and their contiguous copies at the end; the seen pairs."""
    k1 = model.n_factors + 1
    itemsize = np.dtype(model.dtype).itemsize
    draw = 2 * max(ratings.n_users, ratings.n_items) * k1 * 8
    return 2 * factor_bytes(ratings, k1, itemsize) + draw + _RATING_BYTES * ratings.n_ratings


def _longest_row(index: np.ndarray, n: int) -> int:
    return int(np.bincount(index, minlength=n).max(initial=0))
