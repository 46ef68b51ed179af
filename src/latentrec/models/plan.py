"""The DSGD plan: all that one process and the workers of a cluster must agree on, bit for bit.

A fit's plan follows from one seed and the data's statistics (:class:`Stats`: per-user and
per-item rating counts, exact moment bins, the rating range). The statistics are sums of
integers, so a cluster adds up its partitions' statistics in any order and gets what one
process gets from the whole table. From them:

* standardisation: the mean and spread of the ratings, computed exactly, rounded once;
* the grid: ``n_blocks`` stripes of each side, balanced by rating counts. *Rows* are the
  side whose stripes stay in place (users; items when there are more items than users),
  *columns* the side whose factor stripes travel, the smaller one;
* initial factors: drawn per (side, stripe) from the seed, not from one stream;
* the block layout: one seed per block, and an order inside each block that depends on
  the set of its ratings only (:func:`latentrec.kernels.dsgd.layout_blocks`);
* the strata: epoch ``e`` runs ``block_schedule(n_blocks, epoch seed e)``; round ``r`` of
  it is a stratum, ``n_blocks`` blocks sharing no row or column stripe.

Every fit by the "dsgd" schedule follows a plan, in one process (models/sgd.py) or on a
cluster (latentrec.distributed); nothing here imports dask.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..errors import DataError
from ..kernels import dsgd
from ..kernels.blocks import _balanced_bounds, block_schedule
from ..kernels.moments import moment_bins
from ._scaled import exact_moments, standardised

_LAYOUT, _FACTORS, _EPOCH = 1, 2, 3  # seed tags: one stream per purpose


def initial_steps(n: int, dtype) -> np.ndarray:
    """The adaptive step's accumulated squared gradients of ``n`` rows at the start, two
    a row (its factors' and its bias's) as kernels.sgd takes them: 1, so that the first
    step is the learning rate."""
    return np.ones((n, 2), dtype)


class Stripe(NamedTuple):
    """The factors and biases of one stripe of one side (rows local to the stripe), and
    with the adaptive step its rows' accumulated squared gradients ((n, 2), as
    kernels.sgd takes them; None with a constant step)."""

    factors: np.ndarray
    bias: np.ndarray
    steps: np.ndarray | None = None

    def copy(self) -> Stripe:
        return Stripe(self.factors.copy(), self.bias.copy(),
                      None if self.steps is None else self.steps.copy())


@dataclass(frozen=True, eq=False)
class Stats:
    """What the plan needs from the data; statistics of parts add up to the whole's."""

    user_counts: np.ndarray  # int64 (n_users,)
    item_counts: np.ndarray  # int64 (n_items,)
    bins: np.ndarray         # int64 (3, 256): kernels.moments.moment_bins
    low: float
    high: float

    @classmethod
    def of(cls, users, items, values, n_users: int, n_items: int) -> Stats:
        return cls(np.bincount(users, minlength=n_users).astype(np.int64),
                   np.bincount(items, minlength=n_items).astype(np.int64),
                   moment_bins(values), float(values.min()), float(values.max()))

    @property
    def n(self) -> int:
        return int(self.user_counts.sum())


@dataclass(frozen=True, eq=False)
class Plan:
    """See the module docstring; make one with :meth:`make`."""

    n_blocks: int
    n_users: int
    n_items: int
    n_ratings: int
    items_stay: bool         # rows are items (there are more items than users)
    row_bounds: np.ndarray   # int64 (n_blocks + 1,)
    col_bounds: np.ndarray
    mu: float
    sigma: float
    seed: int
    n_factors: int
    init_scale: float
    dtype: str

    @classmethod
    def make(cls, stats: Stats, *, n_blocks, seed, biased, n_factors, init_scale, dtype):
        n = stats.n
        if n == 0:
            raise DataError("cannot fit on an empty rating table")
        mu, sigma = exact_moments(stats.bins, n, biased)
        items_stay = stats.item_counts.shape[0] > stats.user_counts.shape[0]
        rows, cols = ((stats.item_counts, stats.user_counts) if items_stay
                      else (stats.user_counts, stats.item_counts))
        g = int(n_blocks)
        return cls(g, stats.user_counts.shape[0], stats.item_counts.shape[0], n, items_stay,
                   _balanced_bounds(rows, g), _balanced_bounds(cols, g), mu, sigma, int(seed),
                   int(n_factors), float(init_scale), str(dtype))

    # -- sides -----------------------------------------------------------------------------
    def orient(self, users, items):
        """(rows, cols) of (user, item) index arrays."""
        return (items, users) if self.items_stay else (users, items)

    def to_user_item(self, R, C, br, bc):
        """(P, Q, bu, bi) from the row and column sides' factors and biases."""
        return (C, R, bc, br) if self.items_stay else (R, C, br, bc)

    def split(self, users, items, values) -> list:
        """The ratings cut by row stripe: n_blocks (rows, cols, values), global indices."""
        rows, cols = self.orient(np.asarray(users), np.asarray(items))
        stripe = np.searchsorted(self.row_bounds, rows, side="right") - 1
        order = np.argsort(stripe, kind="stable")
        cuts = np.searchsorted(stripe[order], np.arange(1, self.n_blocks))
        return [(rows[o], cols[o], values[o]) for o in np.split(order, cuts)]

    # -- seeded pieces ---------------------------------------------------------------------
    def initial(self, side: str, s: int, adaptive: bool = False) -> Stripe:
        """Initial factors (normal * init_scale, in dtype) and zero biases of a stripe;
        ``adaptive``: with their accumulators (``initial_steps``)."""
        bounds = self.row_bounds if side == "rows" else self.col_bounds
        n = int(bounds[s + 1] - bounds[s])
        rng = np.random.default_rng([self.seed, _FACTORS, side == "rows", s])
        f = rng.standard_normal((n, self.n_factors), dtype=self.dtype)
        f *= self.init_scale
        return Stripe(f, np.zeros(n, self.dtype), initial_steps(n, self.dtype) if adaptive
                      else None)

    def layout(self, rows, cols, values, first: int, stop: int, *, parallel=False):
        """Blocks of row stripes first..stop-1: (rows, cols, values, block_ptr); a
        DataError when a (user, item) pair repeats (its place would depend on input order)."""
        seeds = np.concatenate([np.random.SeedSequence([self.seed, _LAYOUT, s])
                                .generate_state(self.n_blocks, np.uint64)
                                for s in range(first, stop)])
        *out, repeats = dsgd.layout_blocks(rows, cols, values,
                                           self.row_bounds[first:stop + 1], self.col_bounds,
                                           seeds, parallel=parallel)
        if repeats:
            raise DataError(f"{repeats:,} (user, item) pairs are rated more than once; the "
                            "dsgd schedule needs each pair once: drop the repeats first")
        return tuple(out)

    def schedule(self, epoch: int) -> np.ndarray:
        """(n_blocks, n_blocks) block ids (row stripe * n_blocks + column stripe): row r is
        the stratum of sub-epoch r."""
        state = np.random.SeedSequence([self.seed, _EPOCH, epoch]).generate_state(1, np.uint64)
        return block_schedule(self.n_blocks, int(state[0]))

    # -- arithmetic ------------------------------------------------------------------------
    def standardise(self, values) -> np.ndarray:
        return standardised(values, self.mu, self.sigma, self.dtype)

    def step(self, lr, reg, reg_b, biased) -> tuple:
        """The step arguments of kernels.sgd.run_blocks (mu, lr, reg, reg_bias, biased)."""
        t = np.dtype(self.dtype).type
        return t(0.0), t(lr), t(reg), t(reg_b), bool(biased)

    def fingerprint(self) -> dict:
        """What a checkpoint must match to continue this fit (JSON-able)."""
        digest = hashlib.sha256(self.row_bounds.tobytes() + self.col_bounds.tobytes())
        return {"n_blocks": self.n_blocks, "n_users": self.n_users, "n_items": self.n_items,
                "n_ratings": self.n_ratings, "items_stay": self.items_stay, "mu": self.mu,
                "sigma": self.sigma, "seed": self.seed, "n_factors": self.n_factors,
                "init_scale": self.init_scale, "dtype": self.dtype,
                "bounds_sha256": digest.hexdigest()}
