"""Synthetic ratings drawn from known ground-truth factors.

The model behind the data, in rating units::

    rating(u, i) = clip(mean + b_u + b_i + p_u . q_i + noise * N(0, 1))

with ``b_u``, ``b_i`` and the entries of ``p_u``, ``q_i`` Gaussian. Which (user, item)
pairs are rated follows a long-tailed item popularity and a milder user activity, and no
pair is rated twice. With ``exposure=(a, b)`` which items a user rates also depends on how
much the user likes them (missing not at random). :func:`synthetic` can hand back the
truth (:class:`SyntheticTruth`), so a model's recovered factors and predictions can be
checked against it.

The generator works user chunk by user chunk and never holds more than a few hundred MB
besides its output, so 100 million ratings fit on an ordinary machine.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .._random import check_random_state
from ..errors import ParameterError
from .idmap import IdMap
from .ratings import Ratings

__all__ = ["synthetic", "SyntheticTruth"]

#: Ratings per user chunk (chunks are ranges of user indices).
_CHUNK_RATINGS = 1 << 21
#: Cells (users x items) per batch of the exact sampler for heavy users.
_ES_CELLS = 1 << 22
#: Rows per block when computing values (each block gathers rows x rank factors).
_VALUE_CELLS = 1 << 23
#: A user is sampled exactly over all items when rejection would take more draws than
#: this fraction of the number of items.
_ES_FACTOR = 0.5
#: Rounds of rejection sampling before a user falls back to the exact sampler.
_MAX_ROUNDS = 25
#: Most items drawn in one round of rejection sampling.
_MAX_DRAWS = 1 << 23

# Shape of the truth, in "units" of a quarter of the rating scale's width (one star on a
# 1-5 scale; 1.0 when rating_scale is None). The mean sits at 60% of the scale (0 when
# rating_scale is None).
_MEAN_AT = 0.6
_USER_BIAS_SD = 0.3
_ITEM_BIAS_SD = 0.4
_INTERACTION_SD = 0.6   # standard deviation of p_u . q_i
_USER_SKEW_RATIO = 0.5  # user activity exponent = this x popularity_skew

# Timestamps: each user is active from a start drawn uniformly in [2010-01-01, 2020-01-01)
# for an exponentially distributed span (mean one year) cut at the window's end.
_T0 = 1_262_304_000
_T1 = 1_577_836_800
_MEAN_SPAN = 365 * 86_400


@dataclass(frozen=True, eq=False)
class SyntheticTruth:
    """The ground truth behind :func:`synthetic` data.

    Attributes
    ----------
    global_mean : float
    user_bias, item_bias : ndarray of float32, shapes (n_users,), (n_items,)
    user_factors, item_factors : ndarray of float32, shapes (n_users, rank), (n_items, rank)
    noise : float
        Standard deviation of the Gaussian noise added to each rating (rating units).
    rating_scale : tuple or None
        ``(low, high)`` the values were clipped to, or None for raw values.
    discrete : bool
        Whether values were rounded to whole numbers.
    user_activity, item_popularity : ndarray of float64
        The probability weights (summing to 1) that chose who rates and what is rated;
        with ``exposure`` the item weights are ``item_popularity ** a * exp(b * pref)``.
    exposure : (float, float) or None
        ``(a, b)`` of the exposure model, or None when only popularity chose the items.
    """

    global_mean: float
    user_bias: np.ndarray
    item_bias: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray
    noise: float
    rating_scale: tuple | None
    discrete: bool
    user_activity: np.ndarray
    item_popularity: np.ndarray
    exposure: tuple | None = None

    @property
    def rank(self) -> int:
        return self.user_factors.shape[1]

    @property
    def unit(self) -> float:
        """The truth's unit: a quarter of the rating scale's width (1.0 without a scale)."""
        return _unit(self.rating_scale)

    def expected(self, users, items, *, clip: bool = False) -> np.ndarray:
        """Noise-free ratings ``mean + b_u + b_i + p_u . q_i`` (float64) of index pairs.

        ``users`` and ``items`` are indices (as in ``Ratings.users``/``.items``) of one
        shape. The values are before noise, rounding and clipping; ``clip=True`` clips them
        to ``rating_scale``.
        """
        u = np.asarray(users, dtype=np.intp)
        i = np.asarray(items, dtype=np.intp)
        out = (self.global_mean + self.user_bias[u].astype(np.float64)
               + self.item_bias[i].astype(np.float64)
               + np.einsum("...k,...k->...", self.user_factors[u].astype(np.float64),
                           self.item_factors[i].astype(np.float64)))
        if clip and self.rating_scale is not None:
            out = np.clip(out, *self.rating_scale)
        return out

    def preference(self, users, items) -> np.ndarray:
        """True preference ``(expected - global_mean) / unit`` (float64) of index pairs.

        The noise-free, unclipped rating standardised to be scale-free: 1.0 is one star on
        a 1-5 scale and 24.75 points on 1-100. It orders each user's items as
        :meth:`expected` does; it is what ``b`` multiplies in ``exposure=(a, b)``.
        """
        return (self.expected(users, items) - self.global_mean) / self.unit

    def __repr__(self) -> str:
        return (f"SyntheticTruth(n_users={self.user_bias.shape[0]}, "
                f"n_items={self.item_bias.shape[0]}, rank={self.rank}, "
                f"global_mean={self.global_mean:g}, noise={self.noise:g}, "
                f"rating_scale={self.rating_scale}, discrete={self.discrete}, "
                f"exposure={self.exposure})")


def synthetic(n_users: int = 1000, n_items: int = 500, n_ratings: int = 20000, *,
              rank: int = 10, noise: float = 0.5, popularity_skew: float = 1.0,
              exposure=None, rating_scale=(1, 5), discrete: bool = False,
              timestamps: bool = False, random_state=None, return_truth: bool = False):
    """Ratings drawn from known ground-truth factors.

    Parameters
    ----------
    n_users, n_items : int
        Sizes of the id maps (ids ``0 .. n-1``; users or items that drew no rating are
        still in the maps).
    n_ratings : int
        Exactly how many ratings come back, each on a different (user, item) pair; at most
        half of ``n_users * n_items``.
    rank : int
        Number of latent factors in the truth (0 for biases only).
    noise : float
        Standard deviation of the Gaussian noise, in rating units.
    popularity_skew : float
        Exponent ``s`` of the Zipf-like item popularity: the item of popularity rank ``r``
        is drawn with weight about ``r ** -s`` (0: uniform). Users' activity follows the
        same law with half the exponent. Ranks are assigned to ids at random.
    exposure : None or (a, b)
        Missing-not-at-random exposure: user ``u`` picks item ``i`` with weight
        ``popularity(i) ** a * exp(b * pref(u, i))``, where ``pref(u, i) = (b_u + b_i +
        p_u . q_i) / unit`` is the true noise-free rating minus the global mean, in units
        of a quarter of the rating scale's width (:meth:`SyntheticTruth.preference`), so
        ``b`` means the same on every scale. ``a >= 0`` sharpens (> 1) or flattens (< 1)
        popularity; ``b > 0`` makes users rate what they like, ``b < 0`` what they
        dislike, ``b = 0`` ignores taste. ``(1, 1)`` is the reference setting. None (the
        default) is popularity only, as ``(1, 0)`` in distribution but much faster.
        Costs O(n_users * n_items * rank) time (every user weighs every item: about half
        a second for 5,000 users x 2,000 items), in batches of users that hold about
        ``4 * 2**22`` floats, whatever the sizes.
    rating_scale : (low, high) or None
        Values are clipped to ``[low, high]``; the truth is centred at 60% of the scale
        with spreads proportional to its width. ``None`` leaves raw values (mean 0).
    discrete : bool
        Round values to whole numbers (before clipping); ``rating_scale`` must then have
        whole-number ends.
    timestamps : bool
        Add int64 timestamps (seconds since 1970, in 2010-2019): each user rates during
        an active period of their own.
    random_state : None, int or numpy.random.Generator
        The same int gives identical data.
    return_truth : bool
        Return ``(ratings, truth)`` with a :class:`SyntheticTruth`.

    How pairs are chosen: each user's number of ratings is drawn from the activity
    weights (multinomial, capped at ``n_items``), then each user's items are drawn one
    after another with probability proportional to popularity (or to the exposure
    weights), skipping items already drawn (weighted sampling without replacement). The
    counts per user do not depend on ``exposure``. Rows come out grouped by user, in user
    order.
    """
    args = _check_args(n_users=n_users, n_items=n_items, n_ratings=n_ratings, rank=rank,
                       noise=noise, popularity_skew=popularity_skew, exposure=exposure,
                       rating_scale=rating_scale, discrete=discrete, timestamps=timestamps,
                       return_truth=return_truth)
    n_users, n_items, n_ratings, rank = (args[k] for k in ("n_users", "n_items", "n_ratings",
                                                           "rank"))
    noise, skew, scale = args["noise"], args["popularity_skew"], args["rating_scale"]
    exposure = args["exposure"]
    rng = check_random_state(random_state)

    truth, item_by_rank = _draw_truth(rng, n_users, n_items, rank, noise, skew, scale,
                                      bool(discrete), exposure)
    counts = _user_counts(rng, truth.user_activity, n_ratings, n_items)
    if exposure is None:
        sampler = _ItemSampler(rng, skew, item_by_rank)
    else:
        sampler = _ExposureSampler(rng, truth, *exposure)

    users = np.repeat(np.arange(n_users, dtype=np.int32), counts)
    items = np.empty(n_ratings, dtype=np.int32)
    values = np.empty(n_ratings, dtype=np.float32)
    stamps = np.empty(n_ratings, dtype=np.int64) if timestamps else None
    offsets = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])

    cuts = np.searchsorted(offsets, np.arange(_CHUNK_RATINGS, n_ratings, _CHUNK_RATINGS))
    bounds = np.unique(np.concatenate([[0], cuts, [n_users]]))
    for a, b in zip(bounds[:-1], bounds[1:]):
        lo, hi = offsets[a], offsets[b]
        if hi == lo:
            continue
        local_items = sampler.sample_chunk(counts[a:b], first=a)
        items[lo:hi] = local_items
        _fill_values(rng, truth, users[lo:hi], items[lo:hi], values[lo:hi])
        if stamps is not None:
            _fill_timestamps(rng, counts[a:b], stamps[lo:hi])

    ratings = Ratings(users, items, values, stamps,
                      user_map=IdMap.range(n_users, name="user"),
                      item_map=IdMap.range(n_items, name="item"))
    return (ratings, truth) if return_truth else ratings


# ------------------------------------------------------------------------------------------
# the truth

def _zipf_like_weights(n: int, s: float) -> np.ndarray:
    """Weights of ranks 1..n under the density x ** -s on [1, n + 1), summing to 1."""
    r = np.arange(1, n + 1, dtype=np.float64)
    if s == 0:
        w = np.ones(n)
    elif abs(1.0 - s) < 1e-9:
        w = np.log1p(1.0 / r)
    else:
        a = 1.0 - s
        w = r ** a * np.expm1(a * np.log1p(1.0 / r)) / a   # ((r+1)^a - r^a) / a, accurately
    return w / w.sum()


def _unit(scale) -> float:
    """A quarter of the scale's width (one star on 1-5), or 1.0 without a scale."""
    return 1.0 if scale is None else (scale[1] - scale[0]) / 4.0


def _draw_truth(rng, n_users, n_items, rank, noise, skew, scale, discrete, exposure=None):
    """The truth, and the item ids in order of popularity rank (most popular first)."""
    unit = _unit(scale)
    mean = 0.0 if scale is None else scale[0] + _MEAN_AT * (scale[1] - scale[0])
    factor_sd = math.sqrt(_INTERACTION_SD * unit / math.sqrt(rank)) if rank else 0.0
    user_bias = (rng.standard_normal(n_users) * (_USER_BIAS_SD * unit)).astype(np.float32)
    item_bias = (rng.standard_normal(n_items) * (_ITEM_BIAS_SD * unit)).astype(np.float32)
    user_factors = rng.standard_normal((n_users, rank), dtype=np.float32)
    user_factors *= factor_sd
    item_factors = rng.standard_normal((n_items, rank), dtype=np.float32)
    item_factors *= factor_sd
    # popularity ranks go to ids at random, so popularity does not follow the index
    user_activity = np.empty(n_users)
    user_activity[rng.permutation(n_users)] = _zipf_like_weights(n_users,
                                                                 _USER_SKEW_RATIO * skew)
    item_by_rank = rng.permutation(n_items).astype(np.int32)
    item_popularity = np.empty(n_items)
    item_popularity[item_by_rank] = _zipf_like_weights(n_items, skew)
    for arr in (user_bias, item_bias, user_factors, item_factors, user_activity,
                item_popularity):
        arr.flags.writeable = False
    truth = SyntheticTruth(global_mean=float(mean), user_bias=user_bias, item_bias=item_bias,
                           user_factors=user_factors, item_factors=item_factors,
                           noise=float(noise), rating_scale=scale, discrete=discrete,
                           user_activity=user_activity, item_popularity=item_popularity,
                           exposure=exposure)
    return truth, item_by_rank


def _user_counts(rng, activity: np.ndarray, n_ratings: int, cap: int) -> np.ndarray:
    """Ratings per user: multinomial over activity, none above ``cap`` (excess re-drawn)."""
    counts = rng.multinomial(n_ratings, activity).astype(np.int64)
    while True:
        over = counts > cap
        if not over.any():
            return counts
        excess = int((counts[over] - cap).sum())
        counts[over] = cap
        p = np.where(counts < cap, activity, 0.0)
        counts += rng.multinomial(excess, p / p.sum())


# ------------------------------------------------------------------------------------------
# choosing items: weighted sampling without replacement, per user

class _ItemSampler:
    """Draws each user's items one after another by popularity, skipping repeats.

    Light users (few items, compared with how much popularity mass their picks can use
    up) are sampled by drawing with replacement and discarding repeats, in rounds; heavy
    users by exact weighted sampling without replacement over all items (Gumbel top-k).
    Both give the same distribution: successive sampling proportional to popularity.

    Popularity is the Zipf-like law of exponent ``skew`` over ranks, with the item of rank
    ``r`` being ``item_by_rank[r]``; a rank is drawn in O(1) by the law's inverse CDF.
    """

    def __init__(self, rng, skew: float, item_by_rank: np.ndarray):
        self.rng = rng
        self.n_items = n = item_by_rank.shape[0]
        self.rank_to_item = item_by_rank
        by_rank = _zipf_like_weights(n, skew)
        self.popularity = np.empty(n)
        self.popularity[item_by_rank] = by_rank
        with np.errstate(divide="ignore"):
            self.log_pop = np.log(self.popularity)
        # draws_bound[c-1]: an upper bound on the expected draws to collect c distinct items
        # (after j picks, at most the top j items' mass is used up)
        taken = np.concatenate([[0.0], np.cumsum(by_rank)[:-1]])
        with np.errstate(divide="ignore"):
            per_pick = 1.0 / np.clip(1.0 - taken, 0.0, None)
        self.draws_bound = np.cumsum(per_pick)
        if skew == 0:
            self._a = None
        else:
            self._a = 1.0 - skew
            self._log_n1 = math.log(n + 1)

    # -- one chunk of users ---------------------------------------------------------------
    def sample_chunk(self, counts: np.ndarray, first: int = 0) -> np.ndarray:
        """Items of users with these counts, laid out user after user (int32).

        ``first`` (the chunk's first user index) is unused: popularity is the same for all.
        """
        n_users = counts.shape[0]
        offsets = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        out = np.empty(offsets[-1], dtype=np.int32)
        active = np.flatnonzero(counts > 0)
        c = counts[active]
        heavy = self.draws_bound[c - 1] > _ES_FACTOR * self.n_items
        got = np.zeros(n_users, dtype=np.int64)
        if heavy.any():
            hu = active[heavy]
            u, i, r = self._exact(hu, counts[hu])
            out[offsets[u] + r] = i
            got[hu] = counts[hu]
        light = active[~heavy]
        if light.size:
            self._rejection(light, counts, got, offsets, out)
        return out

    def _draw(self, size: int) -> np.ndarray:
        """Item ids drawn with replacement by popularity (inverse CDF of the rank law)."""
        u = self.rng.random(size)
        if self._a is None:
            x = u * self.n_items
        elif abs(self._a) < 1e-9:
            x = np.exp(u * self._log_n1)
        else:
            x = np.exp(np.log1p(u * math.expm1(self._a * self._log_n1)) / self._a)
        x = np.floor(x, out=x)
        if self._a is not None:
            x -= 1.0
        rank = np.clip(x, 0, self.n_items - 1).astype(np.intp)
        return self.rank_to_item[rank]

    def _exact(self, users, need, exclude_users=None, exclude_items=None):
        """Exact successive sampling (Gumbel top-k) of ``need[j]`` items for ``users[j]``.

        Items in (exclude_users, exclude_items) pairs are not drawn. Returns user, item and
        the pick's rank among that user's new picks.
        """
        n = self.n_items
        batch = max(1, _ES_CELLS // n)
        ex_pos = None
        if exclude_users is not None and exclude_users.size:
            pos_of = {int(x): j for j, x in enumerate(users)}
            ex_pos = np.array([pos_of[int(x)] for x in exclude_users], dtype=np.intp)
        us, its, rs = [], [], []
        for s in range(0, users.shape[0], batch):
            e = min(s + batch, users.shape[0])
            keys = self.rng.gumbel(size=(e - s, n))
            keys += self.log_pop
            if ex_pos is not None:
                sel = (ex_pos >= s) & (ex_pos < e)
                keys[ex_pos[sel] - s, exclude_items[sel]] = -np.inf
            rows, picked, ranks = _top_picks(keys, need[s:e])
            us.append(users[s:e][rows])
            its.append(picked)
            rs.append(ranks)
        return np.concatenate(us), np.concatenate(its), np.concatenate(rs)

    def _rejection(self, light, counts, got, offsets, out):
        """Fill ``out`` for the ``light`` users by drawing with replacement, skipping repeats.

        Within each round a user's draws are taken in order and the first new items kept,
        so the result is the same successive sampling the exact sampler does. A round
        draws at most ``_MAX_DRAWS`` items (users beyond wait for the next); a user still
        short after ``_MAX_ROUNDS`` rounds is finished by the exact sampler.
        """
        n = self.n_items
        todo = light
        rounds = np.zeros(counts.shape[0], dtype=np.int64)
        acc_keys = []          # keys (user * n + item) of the picks made so far
        stragglers = []
        while todo.size:
            worn = rounds[todo] >= _MAX_ROUNDS
            if worn.any():
                stragglers.append(todo[worn])
                todo = todo[~worn]
                if todo.size == 0:
                    break
            need = counts[todo] - got[todo]
            lo_bound = np.where(got[todo] > 0,
                                self.draws_bound[np.maximum(got[todo] - 1, 0)], 0.0)
            factor = (self.draws_bound[counts[todo] - 1] - lo_bound) / need
            m = np.ceil(need * (1.0 + 0.5 * (factor - 1.0))).astype(np.int64) + 1
            take = max(1, int(np.searchsorted(np.cumsum(m), _MAX_DRAWS, side="right")))
            batch, m = todo[:take], m[:take]
            rounds[batch] += 1
            du = np.repeat(batch.astype(np.int64), m)
            di = self._draw(int(m.sum()))
            keys = du * n + di
            if acc_keys and got[batch].any():
                prior = np.concatenate(acc_keys)
                prior = prior[np.isin(prior // n, batch[got[batch] > 0])]
            else:
                prior = np.zeros(0, dtype=np.int64)
            comb = np.concatenate([prior, keys])
            order = np.argsort(comb, kind="stable")
            srt = comb[order]
            first = np.empty(srt.shape[0], dtype=bool)
            first[:1] = True
            np.not_equal(srt[1:], srt[:-1], out=first[1:])
            is_first = np.empty_like(first)
            is_first[order] = first
            kept = np.flatnonzero(is_first[prior.shape[0]:])
            ku = du[kept]
            # rank of each new pick within its user's new picks (ku is grouped by user)
            starts = np.flatnonzero(np.concatenate([[True], ku[1:] != ku[:-1]]))
            rank = np.arange(ku.shape[0]) - np.repeat(starts, np.diff(
                np.concatenate([starts, [ku.shape[0]]])))
            ok = rank < (counts[ku] - got[ku])
            ku, ki, rank = ku[ok], di[kept[ok]], rank[ok]
            out[offsets[ku] + got[ku] + rank] = ki
            acc_keys.append(ku * n + ki)
            got += np.bincount(ku, minlength=got.shape[0])
            todo = todo[got[todo] < counts[todo]]
        if stragglers:  # rare: finish them exactly, without their picks so far
            todo = np.sort(np.concatenate(stragglers))
            prior = np.concatenate(acc_keys)
            prior = prior[np.isin(prior // n, todo)]
            u, i, r = self._exact(todo, counts[todo] - got[todo],
                                  prior // n, (prior % n).astype(np.intp))
            out[offsets[u] + got[u] + r] = i
            got[todo] = counts[todo]


def _top_picks(keys: np.ndarray, need: np.ndarray):
    """Each row's ``need[row]`` largest keys, largest first: row, column (int32) and rank.

    With keys = log weight + Gumbel noise, this is successive weighted sampling without
    replacement (Gumbel top-k), the pick order being the draw order.
    """
    n = keys.shape[1]
    k = int(need.max())
    top = np.argpartition(-keys, k - 1, axis=1)[:, :k] if k < n else \
        np.broadcast_to(np.arange(n), keys.shape)
    top_keys = np.take_along_axis(keys, top, axis=1)
    top = np.take_along_axis(top, np.argsort(-top_keys, axis=1, kind="stable"), axis=1)
    take = np.arange(k)[None, :] < need[:, None]
    rows, cols = np.nonzero(take)
    return rows, top[rows, cols].astype(np.int32), cols.astype(np.int64)


class _ExposureSampler:
    """Draws each user's items without replacement with weights
    ``popularity(i) ** a * exp(b * preference(u, i))``, by Gumbel top-k over all items.

    The weights differ per user, so there is no shared inverse CDF to draw from cheaply:
    every user costs n_items keys (and a rank-sized dot product each). Users go in batches
    of about ``_ES_CELLS`` keys, which bounds the memory.
    """

    def __init__(self, rng, truth: SyntheticTruth, a: float, b: float):
        self.rng = rng
        self.n_items = truth.item_bias.shape[0]
        self.coef = b / truth.unit
        # Popularity can underflow to 0 at extreme skews: log gives -inf (never picked while
        # others remain, as in _ItemSampler), and a == 0 is skipped since 0 * -inf is nan.
        with np.errstate(divide="ignore"):
            log_w = a * np.log(truth.item_popularity) if a else np.zeros(self.n_items)
        # The global mean and b_u shift all of a user's keys alike, so they cannot change
        # which items win; only the item terms and p_u . q_i are added.
        self.item_part = log_w + self.coef * truth.item_bias.astype(np.float64)
        self.user_factors = truth.user_factors
        use_q = self.coef != 0 and truth.rank > 0
        self.q_t = truth.item_factors.T.astype(np.float64) if use_q else None

    def sample_chunk(self, counts: np.ndarray, first: int = 0) -> np.ndarray:
        """Items of users ``first, first + 1, ...`` with these counts, user after user."""
        offsets = np.zeros(counts.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        out = np.empty(offsets[-1], dtype=np.int32)
        # heaviest users first: then the users of a group need about as many picks each,
        # and _top_picks, which sorts max(need) keys per row, sorts little beyond the need
        active = np.flatnonzero(counts > 0)
        active = active[np.argsort(-counts[active], kind="stable")]
        batch = max(1, _ES_CELLS // self.n_items)
        for s in range(0, active.shape[0], batch):
            users = active[s:s + batch]
            keys = self._keys(first + users)
            need = counts[users]
            for g0, g1 in _halving_groups(need):
                rows, picked, ranks = _top_picks(keys[g0:g1], need[g0:g1])
                out[offsets[users[g0 + rows]] + ranks] = picked
        return out

    def _keys(self, users: np.ndarray) -> np.ndarray:
        """Log weights plus Gumbel noise, (len(users), n_items) float64."""
        keys = self.rng.standard_exponential(size=(users.shape[0], self.n_items))
        # -log of a standard exponential is a standard Gumbel, and ~4x faster to draw than
        # rng.gumbel; an exponential of exactly 0 gives +inf, a valid (first) pick
        with np.errstate(divide="ignore"):
            np.log(keys, out=keys)
        np.negative(keys, out=keys)
        keys += self.item_part
        if self.q_t is not None:
            p = self.user_factors[users].astype(np.float64)
            p *= self.coef
            keys += p @ self.q_t
        return keys


def _halving_groups(need: np.ndarray):
    """(start, stop) of runs of the descending ``need`` that stay above half their first."""
    g0 = 0
    while g0 < need.shape[0]:
        g1 = int(np.searchsorted(-need, -(need[g0] / 2.0), side="left"))
        yield g0, g1
        g0 = g1


# ------------------------------------------------------------------------------------------
# values and timestamps

def _fill_values(rng, truth: SyntheticTruth, users, items, out) -> None:
    rank = truth.user_factors.shape[1]
    block = max(1 << 12, _VALUE_CELLS // max(rank, 1))
    scale = truth.rating_scale
    for s in range(0, users.shape[0], block):
        u, i = users[s:s + block], items[s:s + block]
        x = rng.standard_normal(u.shape[0], dtype=np.float32)
        x *= truth.noise
        x += np.float32(truth.global_mean)
        x += truth.user_bias[u]
        x += truth.item_bias[i]
        if rank:
            x += np.einsum("ij,ij->i", truth.user_factors[u], truth.item_factors[i])
        if truth.discrete:
            np.floor(x + np.float32(0.5), out=x)
        if scale is not None:
            np.clip(x, scale[0], scale[1], out=x)
        out[s:s + block] = x


def _fill_timestamps(rng, counts, out) -> None:
    n = counts.shape[0]
    start = rng.integers(_T0, _T1, size=n)
    span = np.minimum(rng.exponential(_MEAN_SPAN, size=n).astype(np.int64), _T1 - 1 - start)
    per_row_start = np.repeat(start, counts)
    per_row_span = np.repeat(span + 1, counts)
    out[:] = per_row_start + (rng.random(out.shape[0]) * per_row_span).astype(np.int64)


# ------------------------------------------------------------------------------------------
# arguments

def _check_args(**a) -> dict:
    """Check every argument; messages name it and the value. Returns normalized values."""
    def whole(name, lo, hi=None):
        v = a[name]
        if (isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo
                or (hi is not None and v > hi)):
            allowed = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
            raise ParameterError(f"{name} must be an int {allowed}, got {v!r}")
        a[name] = int(v)

    def real(name):
        v = a[name]
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (
                math.isfinite(v) and v >= 0):
            raise ParameterError(f"{name} must be a finite number >= 0, got {v!r}")
        a[name] = float(v)

    def flag(name):
        if not isinstance(a[name], (bool, np.bool_)):
            raise ParameterError(f"{name} must be True or False, got {a[name]!r}")

    int32_max = np.iinfo(np.int32).max
    whole("n_users", 1, int32_max)
    whole("n_items", 1, int32_max)
    whole("n_ratings", 0)
    whole("rank", 0)
    real("noise")
    real("popularity_skew")
    a["exposure"] = _check_exposure(a["exposure"])
    for name in ("discrete", "timestamps", "return_truth"):
        flag(name)
    limit = a["n_users"] * a["n_items"] // 2
    if a["n_ratings"] > limit:
        raise ParameterError(
            f"n_ratings must be at most half of n_users * n_items ({limit:,} for "
            f"{a['n_users']:,} x {a['n_items']:,}), got {a['n_ratings']:,}; ask for fewer "
            "ratings or more users or items")
    scale = a["rating_scale"]
    if scale is not None:
        ok = (isinstance(scale, (tuple, list)) and len(scale) == 2
              and all(isinstance(x, numbers.Real) and not isinstance(x, bool)
                      and math.isfinite(x) for x in scale)
              and scale[0] < scale[1])
        if not ok:
            raise ParameterError(f"rating_scale must be None or (low, high) with finite "
                             f"low < high, got {scale!r}")
        scale = (float(scale[0]), float(scale[1]))
        if a["discrete"] and not all(x == round(x) for x in scale):
            raise ParameterError(f"rating_scale must have whole-number ends when discrete=True, "
                             f"got {a['rating_scale']!r}")
        a["rating_scale"] = scale
    return a


def _check_exposure(v):
    """None, or ``(a, b)`` as floats with a finite ``a >= 0`` and a finite ``b``."""
    if v is None:
        return None
    if not (isinstance(v, (tuple, list)) and len(v) == 2
            and all(isinstance(x, numbers.Real) and not isinstance(x, bool) for x in v)):
        raise ParameterError(f"exposure must be None or (a, b), two numbers, got {v!r}")
    a, b = float(v[0]), float(v[1])
    if not (math.isfinite(a) and a >= 0):
        raise ParameterError(f"exposure's popularity exponent a must be a finite number "
                             f">= 0, got {v[0]!r} in exposure={v!r}")
    if not math.isfinite(b):
        raise ParameterError(f"exposure's preference coefficient b must be a finite "
                             f"number, got {v[1]!r} in exposure={v!r}")
    return (a, b)
