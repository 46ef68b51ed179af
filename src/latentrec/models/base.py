"""The surface every latentrec model shares: predict, recommend, similar, fold-in, save.

A fitted model is, whatever trained it, the same few arrays:

    score(u, i) = global_mean_ + user_bias_[u] + item_bias_[i]
                  + user_factors_[u] . item_factors_[i]

so one base class serves the SGD and ALS models, the implicit-feedback models (no biases,
mean 0) and the baselines (factors of width 0). Subclasses implement ``_fit`` and hand the
arrays to ``_set_fitted``; everything a user calls afterwards lives here.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from .._random import check_random_state
from ..data import csr
from ..data.ratings import DENSE_CELL_CAP, Ratings, as_ratings
from ..errors import DataError, LatentrecError, NotFittedError, ParameterError
from ..kernels import topk
from ..kernels.bounded_topk import BoundIndex, bounded_top_k
from ..kernels.coarse_topk import CoarseBound, coarse_top_k
from ..kernels.quantized import QuantizedRows, quantized_top_k
from ..kernels.threads import threads_now
from ..kernels.topk import HEAP_K
from . import bounded
from ._params import Params
from .modelfile import save_model

UNKNOWN_PREDICT_POLICIES = ("bias", "nan", "error")
#: Each model's locks (weakly keyed, so that models stay plain objects): "seen" while it
#: builds its seen-items matrix on first read (see seen_), "kept" while it builds what it
#: keeps beside its factors (see _kept).
_KEEPING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_KEEPING_LOCK = threading.Lock()
#: A batch's users are scored this many at a most, and fewer where the catalogue is large:
#: a chunk's block of scores holds at most _CHUNK_CELLS (128 MB of float32).
_CHUNK_USERS, _CHUNK_CELLS = 2048, 1 << 25
#: Scores a worker's chunk holds when many chunks share the threads (16 MB of float32:
#: its selection reads them from the cache the product left them in).
_WORKER_CELLS = 1 << 22
#: A batch of at least this many users may take the coarse bound (models/bounded.py).
_COARSE_USERS = 64
#: Rows normalised at a time in place (see _unit).
_UNIT_ROWS = 1 << 15


def _lock(model, name: str) -> threading.RLock:
    """``model``'s lock ``name``, made when first asked for."""
    with _KEEPING_LOCK:
        return _KEEPING.setdefault(model, {}).setdefault(name, threading.RLock())


class UnknownIdWarning(UserWarning):
    """Every pair given to ``predict`` had a user or item the model has not seen, so every
    prediction is the ``unknown=`` fallback: most likely ids of the wrong type or spelling."""


class ConstantRatingsWarning(UserWarning):
    """A rating model was given ratings that are all one value: it can only learn that
    constant (a file or table without a rating column reads as implicit data, all 1)."""


class _SeenDue(NamedTuple):
    """What ``seen_`` is built from on its first read: the training ratings' indices."""

    users: np.ndarray
    items: np.ndarray
    n_users: int
    n_items: int


@dataclass
class FoldedUser:
    """A user who was not in the training data, solved against the fixed item factors.

    Pass it to ``recommend``, ``predict`` or ``similar_users`` in place of a user id, of
    the model that folded the user in: another model (or this one fitted again) refuses
    it, as its factors and item indices mean nothing there.
    """

    bias: float
    factors: np.ndarray
    seen: np.ndarray = field(repr=False)  # item indices the user rated
    n_ratings: int = 0
    fit: object = field(default=None, repr=False, compare=False)  # the fit that made it


#: model class name -> class: every model class latentrec defines, as it is defined. Only
#: these can be built from a model file.
_MODEL_CLASSES: dict[str, type] = {}


def model_class(name: str) -> type | None:
    """The latentrec model class called ``name``, or None."""
    return _MODEL_CLASSES.get(name)


class Recommender(Params):
    """Base class of all latentrec models (see the module docstring)."""

    #: Whether ``predict`` gives ratings on the training scale (False: a preference score,
    #: a count or noise), so that rating error means something.
    predicts_ratings = True
    #: The factor columns similarity compares (a model may keep columns that correct
    #: predictions without describing taste).
    _similar_columns = slice(None)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Only the library's own classes: a subclass defined elsewhere must not take the
        # place of one of them when a file names it.
        if cls.__module__.startswith("latentrec.models.") and not cls.__name__.startswith("_"):
            _MODEL_CLASSES[cls.__name__] = cls

    # -- fitting -------------------------------------------------------------------------
    def fit(self, ratings: Ratings, validation: Ratings | None = None, *, callback=None):
        """Learn from ``ratings``; ``validation`` (same IdMaps) is used where the model can.

        ``callback``, if given, is called with each epoch's history row as training goes
        (models that train in epochs), e.g. to draw a progress bar.
        """
        self._check_params()
        ratings, validation = self._fit_inputs(ratings, validation)
        self._callback = callback
        try:
            self._fit(ratings, validation)
        finally:
            self._callback = None
        return self

    def _fit_inputs(self, ratings, validation):
        """``ratings`` and ``validation`` as Ratings, checked for what every fit needs (a
        rating model given a table without ratings refuses it: DataError)."""
        ratings = as_ratings(ratings, "ratings", need_ratings=self.predicts_ratings)
        if ratings.n_ratings == 0:
            raise DataError("cannot fit on an empty rating table")
        if self.predicts_ratings and ratings.n_ratings > 1 and _one_value(ratings.values):
            # one text for every model: the trials of a search say it once
            warnings.warn(f"every rating is {float(ratings.values[0]):g}: a rating model can "
                          "only learn that constant. Data without a rating column reads as "
                          "implicit feedback (every value 1): fit an implicit model "
                          "(ImplicitALS, BPR) on it", ConstantRatingsWarning, stacklevel=3)
        if validation is not None:
            validation = as_ratings(validation, "validation",
                                    need_ratings=self.predicts_ratings)
            if validation.user_map != ratings.user_map or validation.item_map != ratings.item_map:
                raise DataError("validation must share the IdMaps of the training ratings; "
                                "make both with one split function")
            if validation.n_ratings == 0:
                validation = None  # nothing to score: its RMSE would be NaN
        return ratings, validation

    def _report(self, row: dict) -> None:
        """Hand one epoch's history row to the fit's callback, if any."""
        if getattr(self, "_callback", None) is not None:
            self._callback(row)

    def _fit(self, ratings: Ratings, validation: Ratings | None) -> None:
        raise NotImplementedError

    def _set_fitted(self, ratings: Ratings, *, user_factors, item_factors, user_bias=None,
                    item_bias=None, global_mean=0.0, history=None, seen=None) -> None:
        """Install the fitted state in one step, so a failed fit leaves none of it behind.

        ``ratings`` needs only ``user_map``, ``item_map`` and ``values`` (for the rating
        range) when ``seen``, the users x items CSR of who rated what, is given."""
        dtype = user_factors.dtype
        self.user_factors_ = user_factors
        self.item_factors_ = item_factors
        self.user_bias_ = (np.zeros(len(ratings.user_map), dtype) if user_bias is None
                           else user_bias.astype(dtype, copy=False))
        self.item_bias_ = (np.zeros(len(ratings.item_map), dtype) if item_bias is None
                           else item_bias.astype(dtype, copy=False))
        self.global_mean_ = float(global_mean)
        self.user_map_ = ratings.user_map
        self.item_map_ = ratings.item_map
        self.seen_ = seen if seen is not None else _SeenDue(
            ratings.users, ratings.items, ratings.n_users, ratings.n_items)
        v = ratings.values
        self.rating_range_ = (float(v.min()), float(v.max()))
        self.history_ = history if history is not None else []
        self._new_factors()

    def _new_factors(self) -> None:
        """Forget what was kept from the factors before (a fit, a load, an update made
        them anew), and the folded-in users of before with it (see _own)."""
        self._normed = {}
        self._fit_token = object()  # what a FoldedUser of these factors carries

    @property
    def seen_(self):
        """users x items CSR of int8 ones where a user rated an item in training (each
        row's columns sorted). Built from the training ratings when first read, once (a
        reader in another thread waits for it): a fit whose model is only scored by its
        predictions, as in a search or a cross-validation by RMSE, never pays for it
        (0.19 s at 8M ratings). Until then the model holds the training ratings' user and
        item index arrays (8 bytes a rating; the matrix takes 5)."""
        seen = self.__dict__.get("_seen")
        if isinstance(seen, _SeenDue):
            with _lock(self, "seen"):
                seen = self.__dict__.get("_seen")
                if isinstance(seen, _SeenDue):
                    seen = self._seen = csr.pattern(*seen)
        if seen is None:
            raise AttributeError(f"{type(self).__name__} is not fitted: it has no seen_")
        return seen

    @seen_.setter
    def seen_(self, seen) -> None:
        with _lock(self, "seen"):  # not while a first read builds the matrix it replaces
            self._seen = seen

    def _require_fitted(self) -> None:
        if not hasattr(self, "user_factors_"):
            raise NotFittedError(type(self).__name__)

    @property
    def n_factors_(self) -> int:
        self._require_fitted()
        return self.item_factors_.shape[1]

    # -- rating prediction ---------------------------------------------------------------
    def predict(self, users, items, *, unknown: str = "bias", clip: bool | None = None,
                return_unknown: bool = False, timestamps=None):
        """Predicted ratings for (user, item) pairs of raw ids (or one FoldedUser and many items).

        An id matches the model's id of the same number in the other type (7 and "7"; never
        "07"). ``unknown``: what a pair with an id the model has not seen gives —
        ``"bias"`` (default: the estimate from what is known, the unseen side taken as
        the model's average user or item: for an unknown item, the user's own estimate
        for the average item), ``"nan"``, or ``"error"`` (UnknownIdError). When every pair has an
        unknown id, an :class:`UnknownIdWarning` says so (likely ids of the wrong type or
        spelling). ``return_unknown=True`` returns ``(predictions, unknown_mask)``, the mask
        True for the pairs whose user or item the model has not seen.

        ``clip``: bound predictions to the training rating range ``rating_range_``. The
        default, None, clips when the predictions are ratings (``predicts_ratings``);
        False gives the raw values; True on a model whose predictions are not ratings is
        a ParameterError.

        ``timestamps`` (one per pair, in the training ratings' seconds): a model with a
        time group (``uses_timestamps``) predicts each pair at its time; the others
        ignore them.
        """
        self._require_fitted()
        clip = self._check_predict(unknown, clip, return_unknown)
        policy = "error" if unknown == "error" else "missing"
        items = _as_id_array(items)
        i_idx = self.item_map_.to_indices(items, unknown=policy)
        p, bu, u_ok = self._user_rows(users, items, policy)
        i_ok = i_idx >= 0
        q, bi = self.item_factors_[i_idx], self.item_bias_[i_idx]
        known = u_ok & i_ok
        # a side the model has not seen is its average row: an unknown item is the average
        # item to a known user (whose factors say how they rate it), and likewise (p, q,
        # bu, bi are fresh copies from the fancy indexing: filled in place)
        for ok, rows, bias, side in ((u_ok, p, bu, "user"), (i_ok, q, bi, "item")):
            if not ok.all():
                rows[~ok], bias[~ok] = self._average_row(side)
        pred = self.global_mean_ + bu + bi + np.einsum("ij,ij->i", p, q)
        if timestamps is not None and self.uses_timestamps:
            pred = pred + self._time_shift(users, items, timestamps)
        if unknown == "nan":
            pred[~known] = np.nan
        if clip:
            pred = np.clip(pred, *self.rating_range_)
        if known.size and not known.any():
            self._warn_all_unknown(known.size, unknown)
        return (pred, ~known) if return_unknown else pred

    def _average_row(self, side: str) -> tuple:
        """(mean factor row, mean bias) of ``side``: what predict takes for an id of that
        side the model has not seen. Zeros for a model whose predictions are not ratings
        (an unseen item has no count, no score: Popularity's 0)."""
        def build():
            f, b = ((self.user_factors_, self.user_bias_) if side == "user"
                    else (self.item_factors_, self.item_bias_))
            if not self.predicts_ratings or not len(b):
                return np.zeros(f.shape[1], f.dtype), 0.0
            return (f.mean(axis=0, dtype=np.float64).astype(f.dtype),
                    float(b.mean(dtype=np.float64)))

        return self._kept(("average", side), build)

    @property
    def uses_timestamps(self) -> bool:
        """Whether ``predict`` predicts each pair at its time (a fitted time group)."""
        return False

    def _time_shift(self, users, items, timestamps) -> np.ndarray:
        """What each pair's time adds to its prediction (models with a time group)."""
        raise NotImplementedError

    def _check_predict(self, unknown, clip, return_unknown) -> bool:
        """Checks ``predict``'s options; returns whether to clip."""
        if unknown not in UNKNOWN_PREDICT_POLICIES:
            raise ParameterError(f"unknown must be one of {UNKNOWN_PREDICT_POLICIES}, "
                                 f"got {unknown!r}")
        if not isinstance(return_unknown, (bool, np.bool_)):
            raise ParameterError(f"return_unknown must be True or False, got {return_unknown!r}")
        return self._check_clip(clip)

    def _check_clip(self, clip) -> bool:
        """Whether ``clip`` (True, False or None: when the predictions are ratings) clips."""
        if clip is None:
            return bool(self.predicts_ratings)
        if not isinstance(clip, (bool, np.bool_)):
            raise ParameterError(f"clip must be True, False or None, got {clip!r}")
        if clip and not self.predicts_ratings:
            raise ParameterError(f"clip=True: {type(self).__name__}'s predictions are not "
                                 "ratings, so there is no rating scale to clip them to")
        return bool(clip)

    def _user_rows(self, users, items: np.ndarray, policy: str):
        """(factors, biases, known mask) of the user side of each pair: the rows of the
        given users, or one folded-in user's repeated."""
        if isinstance(users, FoldedUser):
            self._own(users)
            return (np.tile(users.factors, (items.size, 1)), np.full(items.size, users.bias),
                    np.ones(items.size, dtype=bool))
        users = _user_ids(users, "predict")
        if users.shape != items.shape:
            raise ParameterError(f"users and items must have one length; got {users.size} "
                                 f"and {items.size}")
        u_idx = self.user_map_.to_indices(users, unknown=policy)
        return self.user_factors_[u_idx], self.user_bias_[u_idx], u_idx >= 0

    def _warn_all_unknown(self, n_pairs: int, unknown: str) -> None:
        fallback = ("the estimate for the model's average user or item" if unknown == "bias"
                    else "NaN")
        warnings.warn(
            f"{type(self).__name__}.predict: none of the {n_pairs:,} (user, item) pairs has "
            f"both ids known to the model, so every prediction is the unknown={unknown!r} "
            f"fallback ({fallback}); check the ids' spelling and type (the model's user "
            f"ids are {self.user_map_.kind}, its item ids {self.item_map_.kind})",
            UnknownIdWarning, stacklevel=3)

    def predict_matrix(self, *, max_cells: int = DENSE_CELL_CAP,
                       clip: bool | None = None) -> np.ndarray:
        """The filled-in users x items rating matrix, for problems small enough to hold.

        ``clip`` as in :meth:`predict`: by default bounded to ``rating_range_`` when the
        predictions are ratings."""
        self._require_fitted()
        clip = self._check_clip(clip)
        n_u, n_i = len(self.user_map_), len(self.item_map_)
        if n_u * n_i > max_cells:
            raise DataError(f"the full matrix would have {n_u:,} x {n_i:,} = {n_u * n_i:,} "
                            f"cells, above the cap of {max_cells:,}; use recommend() for "
                            "each user's best items, or predict() for chosen pairs")
        matrix = self._score_rows(np.arange(n_u))
        return np.clip(matrix, *self.rating_range_, out=matrix) if clip else matrix

    # -- recommendation ------------------------------------------------------------------
    def recommend(self, user, n: int = 10, *, exclude_seen: bool = True, items=None,
                  exclude=None, by: str | None = None):
        """Best ``n`` items for a user: ``(item_ids, scores)``, best first.

        ``user`` is a raw id, a FoldedUser, or a list of raw ids (then a list of such pairs
        comes back). ``items`` limits the candidates; ``exclude`` removes items;
        ``exclude_seen`` removes what the user rated in training.

        ``by`` chooses the order: ``"relevance"`` (the rating models' default) weighs what
        users pick with the predicted rating (models/ranking.py; the scores are in that
        combined unit); ``"rating"`` orders by the value ``predict`` gives (the default of
        models without an interaction part: the implicit models' preference, a
        baseline's estimate). Use ``"rating"`` to show the items a user would rate highest
        whatever they would choose, e.g. within a shortlist given as ``items``. Its scores
        are the predictions unclipped (``predict(..., clip=False)``): clipping would tie
        every item predicted above the scale's top and lose their order.
        """
        self._require_fitted()
        n = _check_n(n)
        by = self._check_by(by)
        candidates = self._candidate_mask(items, exclude)
        if isinstance(user, FoldedUser):
            return self._recommend_folded(self._own(user), n, exclude_seen, candidates, by)
        batch = _is_batch(user)
        u_idx = self.user_map_.to_indices(_user_ids(user, "recommend"), unknown="error")
        out = []
        for _, idx, top in self._top_chunks(u_idx, n, exclude_seen, candidates, by):
            out.extend(self._id_lists(idx, top))
        return out if batch else out[0]

    def recommend_all(self, n: int = 10, *, exclude_seen: bool = True, items=None,
                      exclude=None, by: str | None = None, users=None):
        """``recommend`` for every user the model was trained on (or for ``users``), as
        an iterator of long tables: DataFrames with columns user, rank (1 = best), item
        and score, one for each chunk of up to 2,048 users (fewer where the catalogue is
        so large that their scores would pass 128 MB, unless a bound search finds the
        lists without them: models/bounded.py; a user with fewer than ``n`` valid
        items has fewer rows; no users: one empty table). The same lists and scores as
        ``recommend``; memory stays bounded by a few chunks' scores, however many users,
        so the chunks can go to a file as they come (``pd.concat`` them for one table).
        The arguments are checked at the call, the lists computed as the chunks are
        taken: on numba's threads, each scoring and selecting its own smaller chunks
        with BLAS held to one thread (threadpoolctl) until the iterator is done."""
        self._require_fitted()
        n = _check_n(n)
        by = self._check_by(by)
        candidates = self._candidate_mask(items, exclude)
        u_idx = (np.arange(len(self.user_map_)) if users is None else
                 self.user_map_.to_indices(_user_ids(users, "recommend_all"),
                                           unknown="error"))
        if u_idx.size == 0:
            return iter([self._long_table(u_idx, np.zeros((0, n), np.int64),
                                          np.zeros((0, n)))])
        return (self._long_table(chunk, idx, top) for chunk, idx, top in
                self._top_chunks(u_idx, n, exclude_seen, candidates, by))

    def _long_table(self, users, idx, top) -> pd.DataFrame:
        """top_k's rows for ``users`` (indices) as a long table of raw ids."""
        keep = idx >= 0
        return pd.DataFrame({
            "user": self.user_map_.to_ids(np.repeat(users, keep.sum(axis=1))),
            "rank": np.broadcast_to(np.arange(1, idx.shape[1] + 1), idx.shape)[keep],
            "item": self.item_map_.to_ids(idx[keep]), "score": top[keep]})

    def _recommend_folded(self, user: FoldedUser, n, exclude_seen, candidates, by):
        mine = np.unique(np.asarray(user.seen, dtype=np.int64).ravel())
        seen = (np.array([0, mine.size]), mine) if exclude_seen else None
        index = self._bound_index(by, n)
        if index is not None:
            row = self._folded_score_row(user, by)[None, :]
            return self._id_lists(*bounded_top_k(index, row, n, seen=seen,
                                                 candidates=candidates))[0]
        scores = self._folded_scores(user, by)[None, :]
        return self._top_n(scores, n, candidates, seen)[0]

    def _bound_index(self, by: str, k: int) -> BoundIndex | None:
        """The bound index of ``by``'s score where it pays (models/bounded.py), else None.
        A kept index holds the score's item side, in its own order, and the exact
        products read that copy too (_item_side): the model keeps one."""
        if k > HEAP_K:
            return None
        def build():
            seen = (self.seen_.indptr, self.seen_.indices)
            # the side's column blocks, which the index lays out in its own order (stacked
            # in item order first, they were copied twice); without an index _item_side
            # stacks them when first asked
            index = None if not self.seen_.has_sorted_indices else \
                bounded.worth_an_index(self._item_side_parts(by), self.n_factors_,
                                       lambda u: self._user_score_factors(u, by), seen,
                                       self.user_factors_.dtype)
            if index is not None:  # _item_side reads the index's copy from now on
                self._normed.pop(("score", by), None)
            return index

        return self._kept(("bound", by), build)

    def _coarse_bound(self, by: str, k: int) -> CoarseBound | None:
        """The coarse bound of ``by``'s score where it pays for a batch of users
        (models/bounded.py), else None."""
        if not 0 < k <= HEAP_K:
            return None

        def build():
            return bounded.worth_a_coarse_bound(
                self._item_side(by)[0], self.n_factors_,
                lambda u: self._user_score_factors(u, by),
                (self.seen_.indptr, self.seen_.indices))

        return self._kept(("coarse", by), build)

    def _pruned_search(self, n_users, n, seen, candidates, by):
        """``search(A, users) -> (indices, scores)`` of the top-``n`` lists where a search
        that scores few items in full pays (models/bounded.py): the bound index over a
        large catalogue, the coarse bound for a batch of ``n_users`` over a smaller one;
        else None."""
        index = self._bound_index(by, n)
        if index is not None:
            k = min(n, index.B.shape[0])
            return lambda A, users: bounded_top_k(index, A, k, seen=seen, rows=users,
                                                  candidates=candidates)
        k = min(n, self.item_factors_.shape[0])
        coarse = self._coarse_bound(by, k) if n_users >= _COARSE_USERS else None
        if coarse is None:
            return None
        return lambda A, users: coarse_top_k(coarse, A, k, seen=seen, rows=users,
                                             candidates=candidates)

    def _top_chunks(self, u_idx, n, exclude_seen, candidates, by):
        """(users' indices, their best items' indices, scores) for each chunk of users
        (kernels.topk; a short row ends in index -1): the chunks bound the dense block
        of scores. Where it pays, a search that scores few items in full finds the same
        lists (_pruned_search)."""
        seen = (self.seen_.indptr, self.seen_.indices) if exclude_seen else None
        search = self._pruned_search(u_idx.size, n, seen, candidates, by)
        if search is not None:  # no block of scores: each chunk's users on every thread
            for s in range(0, u_idx.size, _CHUNK_USERS):
                users = u_idx[s:s + _CHUNK_USERS]
                yield (users, *search(self._user_score_factors(users, by), users))
            return
        item_side = self._item_side(by)
        n_items = item_side[0].shape[0]
        k = min(n, n_items)
        chunk, step = _chunk_sizes(n_items)

        def select(chunk, n_threads=None):
            return (chunk, *topk.top_k(self._score_rows(chunk, by, item_side), k, seen=seen,
                                       rows=chunk, candidates=candidates,
                                       n_threads=n_threads))

        workers = threads_now()
        if workers > 1 and u_idx.size > step:
            yield from _on_workers(u_idx, step, chunk // step, workers, select)
            return
        # one request's users, or one thread: each chunk's product and selection on all
        for s in range(0, u_idx.size, chunk):
            yield select(u_idx[s:s + chunk])

    def _check_by(self, by) -> str:
        parts = self._relevance_parts()
        if by is None:
            return "rating" if parts is None else "relevance"
        if by not in ("relevance", "rating"):
            raise ParameterError(f"by must be 'relevance', 'rating' or None, got {by!r}")
        if by == "rating" and not self.predicts_ratings:
            raise ParameterError(f"{type(self).__name__}'s scores are not ratings, so there "
                                 "is no predicted rating to rank by; leave by unset (its "
                                 "own score)")
        if by == "relevance" and parts is None:
            own = "'rating'" if self.predicts_ratings else "its own score: leave by unset"
            raise ParameterError(f"{type(self).__name__} has no interaction part to rank by "
                                 f"relevance (it ranks by {own})")
        return by

    def _relevance_parts(self):
        """(user interaction factors, item interaction factors, weight of the rating) of
        the rating models' ranking (models/ranking.py), or None: rank by rating."""
        return None

    def _score_rows(self, u_idx: np.ndarray, by: str = "rating", side=None) -> np.ndarray:
        """Each user's score of every item: predicted ratings, or the relevance score; one
        product of _user_score_factors and the item side (``side``: _item_side's pair,
        if the caller has it already)."""
        B, order = self._item_side(by) if side is None else side
        return _in_item_order(self._user_score_factors(u_idx, by) @ B.T, order)

    def _user_score_factors(self, u_idx: np.ndarray, by: str) -> np.ndarray:
        """Users' rows A[u] of the score A[u] . B[i], B from _item_score_factors: their
        factors with the biases (and, by relevance, the interaction part) as columns, so
        one matrix product gives the whole score."""
        P = self.user_factors_[u_idx]
        ones = np.ones((P.shape[0], 1), P.dtype)
        if by == "rating":
            return np.hstack([P, ones, (self.user_bias_[u_idx] + self.global_mean_)[:, None]],
                             dtype=P.dtype)
        X, _, weight = self._relevance_parts()
        return np.hstack([weight * P, weight * ones, X[u_idx]], dtype=P.dtype)

    def _item_side(self, by: str) -> tuple[np.ndarray, np.ndarray | None]:
        """``(B, order)``: the items' rows of the score (see _user_score_factors), kept
        once. Where a bound index was kept they are its copy, in its tile order (``order``:
        row -> item), else the rows in item order (``order`` None), kept with the unit
        vectors of similarity (``_normed``) so that one request does not copy them."""
        index = self._normed.get(("bound", by))
        if index is None:
            side = self._kept(("score", by), lambda: self._stack_item_side(by))
            index = self._normed.get(("bound", by))  # kept by another thread meanwhile?
            if index is None:
                return side, None
            self._normed.pop(("score", by), None)
        return index.B, index.order

    def _item_score_factors(self, by: str) -> np.ndarray:
        """The items' rows B[i] of the score, in item order (a fresh array where a bound
        index holds them in its own order)."""
        B, order = self._item_side(by)
        return _in_item_order(B, order, axis=0)

    def _stack_item_side(self, by: str) -> np.ndarray:
        return np.hstack(self._item_side_parts(by), dtype=self.user_factors_.dtype)

    def _item_side_parts(self, by: str) -> list:
        """The column blocks of the items' rows B[i] of the score, in item order."""
        Q = self.item_factors_
        side = [Q, self.item_bias_[:, None]]
        if by == "rating":
            side.append(np.ones((Q.shape[0], 1), Q.dtype))
        else:
            side.append(self._relevance_parts()[1])
        return side

    def _folded_scores(self, user: FoldedUser, by: str) -> np.ndarray:
        """A folded-in user's score of every item, as _score_rows (in the item side's
        dtype: a float64 row would have NumPy convert the whole item side per call)."""
        B, order = self._item_side(by)
        return _in_item_order(B @ self._folded_score_row(user, by).astype(B.dtype), order)

    def _folded_score_row(self, user: FoldedUser, by: str) -> np.ndarray:
        """A folded-in user's row A of the score, built as _user_score_factors builds a
        trained user's."""
        if by == "rating":
            return np.concatenate([user.factors, [1.0, self.global_mean_ + user.bias]])
        _, _, weight = self._relevance_parts()
        return np.concatenate([weight * user.factors, [weight],
                               self._folded_interactions(user.seen)])

    def _candidate_mask(self, items, exclude) -> np.ndarray | None:
        if items is None and exclude is None:
            return None
        mask = np.zeros(len(self.item_map_), dtype=bool)
        if items is None:
            mask[:] = True
        else:
            mask[self.item_map_.to_indices(_id_list(items, "items"), unknown="error")] = True
        if exclude is not None:
            idx = self.item_map_.to_indices(_id_list(exclude, "exclude"), unknown="missing")
            mask[idx[idx >= 0]] = False
        return mask

    def _top_n(self, scores, n, candidates, seen, rows=None):
        """Each row's best ``n`` items ``(item_ids, float64 scores)``: score descending,
        ties by lower index (kernels.topk); ``seen`` (indptr, indices) rows ``rows`` of it
        and the items outside ``candidates`` left out."""
        return self._id_lists(*topk.top_k(scores, min(n, scores.shape[1]), seen=seen,
                                          rows=rows, candidates=candidates))

    def _id_lists(self, idx, top):
        """top_k's rows as ``(item_ids, scores)`` pairs, each without its -1 padding."""
        counts = np.count_nonzero(idx >= 0, axis=1)
        return [(self.item_map_.to_ids(i[:m]), s[:m]) for i, s, m in zip(idx, top, counts)]

    # -- similarity ----------------------------------------------------------------------
    def similar_items(self, item, n: int = 10, *, items=None):
        """Items most like ``item`` by cosine of their factors: ``(item_ids, scores)``."""
        self._require_fitted()
        idx = self.item_map_.to_index(_one_id(item, "similar_items", "item"))
        return self._similar("item", self._normed_factors("item")[idx], n, idx, items)

    def similar_users(self, user, n: int = 10):
        """Users most like ``user`` (a raw id or a FoldedUser) by cosine of their factors."""
        self._require_fitted()
        if isinstance(user, FoldedUser):
            return self._similar("user", _unit(self._folded_embedding(self._own(user))), n,
                                 -1, None)
        idx = self.user_map_.to_index(_one_id(user, "similar_users", "user"))
        return self._similar("user", self._normed_factors("user")[idx], n, idx, None)

    def _similar(self, side, query, n, self_idx, items):
        n = _check_n(n)
        if self.n_factors_ == 0:
            raise LatentrecError(f"{type(self).__name__} has no latent factors, so it "
                                 f"cannot tell which {side}s are similar")
        id_map = self.item_map_ if side == "item" else self.user_map_
        keep = None
        if items is not None:
            keep = np.zeros(len(id_map), dtype=bool)
            keep[id_map.to_indices(_as_id_array(items), unknown="error")] = True
        k = min(n, len(id_map))
        quantized = self._quantized(side)
        if quantized is not None:  # a large catalogue: the same list, from an int8 pass
            idx, top = quantized_top_k(quantized, query, k, exclude=self_idx, candidates=keep)
        else:
            # score descending, ties by lower index; the query itself (self_idx >= 0) out
            idx, top = topk.top_k((self._normed_factors(side) @ query)[None, :], k,
                                  candidates=keep, exclude=np.array([self_idx]))
            idx, top = idx[0], top[0]
        m = np.count_nonzero(idx >= 0)
        return id_map.to_ids(idx[:m]), top[:m]

    def _quantized(self, side: str) -> QuantizedRows | None:
        """The int8 copy of ``side``'s unit vectors from ``bounded.MIN_ITEMS`` rows (where
        reading them whole costs milliseconds), else None; kept with them."""
        def build():
            unit = self._normed_factors(side)
            return QuantizedRows(unit) if len(unit) >= bounded.MIN_ITEMS else None

        return self._kept(("int8", side), build)

    def _normed_factors(self, side: str) -> np.ndarray:
        def build():
            embedding = self._embedding(side)
            # in place where _embedding made a new array (not a view of the factors)
            return _unit(embedding, in_place=embedding.flags.owndata)

        return self._kept(side, build)

    def _kept(self, key, build):
        """``self._normed[key]``, made by ``build()`` when first asked. One build at a time
        for a model: threads asking at once wait for one build instead of each making
        its own (a bound index at a million items: 1.5 s and 0.4 GB each)."""
        normed = self._normed  # a refit replaces the dict; this build fills the one read
        if key not in normed:
            with _lock(self, "kept"):
                if key not in normed:
                    normed[key] = build()
        return normed[key]

    def _embedding(self, side: str) -> np.ndarray:
        """The vectors similarity compares: the factors, or where the model ranks by
        relevance its ranking vectors without the bias columns (the interaction factors
        beside the weighted rating factors), so that similar items are those the ranking
        treats alike."""
        f = self.item_factors_ if side == "item" else self.user_factors_
        f = f[:, self._similar_columns]
        parts = self._relevance_parts()
        if parts is None:
            return f
        X, V, weight = parts
        first = V if side == "item" else X
        # written into one array (hstack of a scaled copy made two more of the side)
        out = np.empty((f.shape[0], first.shape[1] + f.shape[1]),
                       np.result_type(first, weight * f[:0]))
        out[:, :first.shape[1]] = first
        np.multiply(f, weight, out=out[:, first.shape[1]:])
        return out

    def _folded_embedding(self, user: FoldedUser) -> np.ndarray:
        f = user.factors[self._similar_columns]
        parts = self._relevance_parts()
        if parts is None:
            return f
        return np.concatenate([self._folded_interactions(user.seen), parts[2] * f])

    def user_groups(self, k: int = 8, *, random_state=None) -> pd.Series:
        """Cluster users with k-means on the unit-length vectors ``similar_users`` compares:
        a Series of group labels."""
        from scipy.cluster.vq import kmeans2

        self._require_fitted()
        if self.n_factors_ == 0:
            raise LatentrecError(f"{type(self).__name__} has no latent factors to group users by")
        if not isinstance(k, (int, np.integer)) or not 1 <= k <= len(self.user_map_):
            raise ParameterError(f"k must be an integer in [1, {len(self.user_map_)}], got {k!r}")
        seed = check_random_state(random_state)
        _, labels = kmeans2(self._normed_factors("user").astype(np.float64), int(k),
                            seed=seed, minit="++")
        return pd.Series(labels, index=pd.Index(self.user_map_.ids, name="user"), name="group")

    # -- new users -----------------------------------------------------------------------
    def fold_in(self, ratings: dict) -> FoldedUser:
        """Solve a new user's bias and factors from ``{item_id: rating}`` against the fixed
        item factors (a small ridge problem); nothing in the model changes. A rating outside
        the training range ``rating_range_`` (ends included) is a DataError."""
        self._require_fitted()
        if not isinstance(ratings, dict) or not ratings:
            raise DataError("fold_in needs a non-empty {item_id: rating} dict")
        idx = self._fold_in_items(ratings)
        r = self._fold_in_values(ratings)
        bias, factors = self._fold_in_solve(idx, r)
        return FoldedUser(bias=float(bias), factors=factors.astype(self.item_factors_.dtype),
                          seen=idx, n_ratings=idx.size, fit=self._fit_token)

    def _own(self, user: FoldedUser) -> FoldedUser:
        """``user`` if this fit folded it in, else a DataError."""
        if user.fit is not self.__dict__.get("_fit_token"):
            raise DataError("this FoldedUser was folded in by another model (or by this one "
                            "before it was fitted again): fold the user in with this "
                            "model's fold_in")
        return user

    def _fold_in_items(self, ratings: dict) -> np.ndarray:
        """The model's indices (int64) of the items of ``{item_id: rating}``; an unknown
        item, or one item under two keys (7 and "7"), is an error."""
        keys = list(ratings)
        idx = self.item_map_.to_indices(np.asarray(keys, dtype=object),
                                        unknown="error").astype(np.int64)
        values, counts = np.unique(idx, return_counts=True)
        if (counts > 1).any():
            a, b = (keys[j] for j in np.flatnonzero(idx == values[counts > 1][0])[:2])
            raise DataError(f"fold_in got item {a!r} twice, as {a!r} and as {b!r}: give "
                            "each rated item once")
        return idx

    def _fold_in_values(self, ratings: dict) -> np.ndarray:
        """The ratings as float64, each a finite number or a DataError naming its item; for
        a model whose predictions are ratings, also within ``rating_range_`` (ends
        included), the only range it was fitted to (the HTTP service refuses the same). The
        implicit models' values are confidences: any finite value, negative included."""
        bounds = self._fold_in_bounds()
        r = np.empty(len(ratings))
        for k, (item, value) in enumerate(ratings.items()):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float,
                                                                              np.number)):
                raise DataError(f"fold_in: the rating of item {item!r} must be a number, "
                                f"got {value!r}")
            r[k] = value
            if not bounds[0] <= r[k] <= bounds[1]:  # NaN fails this too
                raise DataError(f"fold_in: the rating of item {item!r}, {r[k]:g}, is "
                                f"{self._fold_in_range_text()}")
        return r

    def _fold_in_bounds(self) -> tuple[float, float]:
        if not self.predicts_ratings:  # any finite value (the bounds leave out inf)
            big = float(np.finfo(np.float64).max)
            return -big, big
        low, high = self.rating_range_
        slack = 1e-6 * max(1.0, abs(low), abs(high))  # float32 rounding of stored 0.1
        return low - slack, high + slack

    def _fold_in_range_text(self) -> str:
        if not self.predicts_ratings:
            return "not a finite number"
        low, high = self.rating_range_
        return f"outside the model's rating range, {low:g} to {high:g}"

    def _fold_in_regularization(self, n_ratings: int) -> tuple[float, float]:
        """Total L2 weights (factors, bias) of a new user's ridge problem; models override."""
        return 0.05 * n_ratings, 0.05 * n_ratings

    def _fold_in_solve(self, idx: np.ndarray, r: np.ndarray):
        reg_f, reg_b = self._fold_in_regularization(idx.size)
        q = self.item_factors_[idx].astype(np.float64)
        y = r - self.global_mean_ - self.item_bias_[idx]
        biased = self._uses_user_bias()
        A = np.hstack([q, np.ones((idx.size, 1))]) if biased else q
        lam = np.full(A.shape[1], reg_f, dtype=np.float64)
        if biased:
            lam[-1] = reg_b
        x = np.linalg.solve(A.T @ A + np.diag(lam) + 1e-12 * np.eye(A.shape[1]), A.T @ y)
        return (x[-1], x[:-1]) if biased else (0.0, x)

    def _uses_user_bias(self) -> bool:
        """Whether a user bias is part of this model (and so of a folded-in user)."""
        return bool(getattr(self, "biased", False))

    # -- description ---------------------------------------------------------------------
    def summary(self) -> dict:
        """What the model is, as plain values: class, hyperparameters, sizes, id types,
        mean, rating range and a digest of the training history (``latentrec info`` and
        the service's ``GET /model`` both show this)."""
        self._require_fitted()
        return {
            "class": type(self).__name__,
            "params": self.get_params(),
            "n_users": len(self.user_map_), "n_items": len(self.item_map_),
            "n_ratings": int(self.seen_.nnz),
            "n_factors": self.n_factors_,
            "user_id_type": self.user_map_.kind, "item_id_type": self.item_map_.kind,
            "global_mean": self.global_mean_,
            "rating_range": list(self.rating_range_),
            "history": self._history_digest(self.history_),
        }

    @staticmethod
    def _history_digest(history: list) -> dict:
        """Epochs run, final and best RMSEs, seconds; an early-stopping search is told apart
        from the refit on all the data that follows it (rows with ``stage == "refit"``)."""
        search = [h for h in history if h.get("stage") != "refit"]
        refit = [h for h in history if h.get("stage") == "refit"]
        with_val = [h for h in search if h.get("val_rmse") is not None]
        best = min(with_val, key=lambda h: h["val_rmse"]) if with_val else None
        final = history[-1] if history else {}
        # a refit that went on from the search's best state numbers its epochs after it
        continued = bool(refit) and refit[0]["epoch"] > 1
        return {
            "epochs": refit[-1]["epoch"] if refit else len(search),
            "epochs_searched": len(search) if refit else None,
            "refit_on_all_data": bool(refit),
            "epochs_continued": len(refit) if continued else None,
            "final_train_rmse": final.get("train_rmse"),
            "final_val_rmse": final.get("val_rmse"),
            "best_val_rmse": best["val_rmse"] if best else None,
            "best_epoch": best["epoch"] if best else None,
            "seconds": sum(h.get("seconds", 0.0) for h in history),
        }

    def seen_items(self, user) -> np.ndarray:
        """Raw ids of the items ``user`` (a raw id or a FoldedUser) rated in training: the
        items ``recommend`` leaves out unless told not to. Unknown users raise."""
        self._require_fitted()
        if isinstance(user, FoldedUser):
            return self.item_map_.to_ids(self._own(user).seen)
        u = self.user_map_.to_index(user)
        return self.item_map_.to_ids(self.seen_.indices[self.seen_.indptr[u]:
                                                        self.seen_.indptr[u + 1]])

    # -- persistence ---------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the fitted model to one file (arrays + JSON metadata; no pickle)."""
        self._require_fitted()
        save_model(self, path)

    def _extra_arrays(self) -> dict:
        """Model-specific fitted arrays to save beside the shared ones."""
        return {}

    def _load_extra_arrays(self, arrays: dict) -> None:
        """Inverse of ``_extra_arrays``."""


def _in_item_order(a: np.ndarray, order, axis: int = -1) -> np.ndarray:
    """``a`` (scores, or the item side's rows with ``axis=0``) whose ``axis`` runs over
    items in ``order`` (position -> item), put in item order; as it is where ``order`` is
    None."""
    if order is None:
        return a
    out = np.empty_like(a)
    at = [slice(None)] * a.ndim
    at[axis] = order
    out[tuple(at)] = a
    return out


def _unit(f: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    if not in_place or f.ndim != 2:
        norms = np.linalg.norm(f, axis=-1, keepdims=True)
        return f / np.where(norms > 0, norms, 1.0)
    # in blocks of rows: norm's squares take a block's memory, not a second copy of f
    # (at a million rows, fresh memory's first touch cost more than the sums)
    for start in range(0, f.shape[0], _UNIT_ROWS):
        block = f[start:start + _UNIT_ROWS]
        norms = np.linalg.norm(block, axis=-1, keepdims=True)
        block /= np.where(norms > 0, norms, 1.0).astype(f.dtype)
    return f


def _is_batch(x) -> bool:
    return isinstance(x, (list, tuple, np.ndarray, pd.Series, pd.Index,
                          pd.api.extensions.ExtensionArray))


def _one_value(values: np.ndarray) -> bool:
    """Whether every value is the same; three looks settle it for almost any real data,
    before a pass over millions of ratings in every fit."""
    if values[0] != values[-1] or values[0] != values[values.size // 2]:
        return False
    return bool(values.min() == values.max())


def _id_list(x, name: str) -> np.ndarray:
    """``items=`` or ``exclude=`` as a 1-D array of ids: one id, or any collection of them
    (a set, a generator, dict keys)."""
    if not _is_batch(x) and not isinstance(x, (str, bytes)) and hasattr(x, "__iter__"):
        x = list(x)
    ids = _as_id_array(x)
    if ids.ndim != 1:
        raise ParameterError(f"{name} must be a flat list of item ids, got an array of "
                             f"shape {ids.shape}")
    return ids


def _one_id(x, method: str, side: str):
    """``x`` if it is one id; a list is refused by name (pandas' own error said nothing)."""
    if _is_batch(x):
        raise ParameterError(f"{method} takes one {side} id, got {type(x).__name__} of "
                             f"{np.size(x)}: call it once for each")
    return x


def _user_ids(users, method: str) -> np.ndarray:
    """``users`` as an array of raw ids; a FoldedUser among them is refused (it is no id:
    looked up as one, it was an unknown user, answered by the fallback in predict)."""
    arr = _as_id_array(users)
    # one C pass tells ids of one kind (the usual batch) from a mixture worth a look
    if (arr.dtype == object and pd.api.types.infer_dtype(arr, skipna=True) in
            ("mixed", "mixed-integer") and any(isinstance(u, FoldedUser) for u in arr)):
        raise ParameterError(f"{method} takes a FoldedUser on its own, not in a list: "
                             "call it once for each")
    return arr


def _as_id_array(x) -> np.ndarray:
    if _is_batch(x):
        arr = np.asarray(x)
        return arr.astype(object) if arr.dtype.kind in "UT" else arr
    return np.array([x], dtype=object if isinstance(x, str) else None)


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ParameterError(f"n must be a positive integer, got {n!r}")
    return int(n)


def _chunk_sizes(n_items: int) -> tuple[int, int]:
    """(users a chunk of the lists, users a worker's chunk) for a catalogue of
    ``n_items``: see _CHUNK_CELLS and _WORKER_CELLS."""
    chunk = max(1, min(_CHUNK_USERS, _CHUNK_CELLS // max(1, n_items)))
    return chunk, max(1, min(chunk, _WORKER_CELLS // max(1, n_items)))


def _on_workers(u_idx, step, per_group, workers, select):
    """``select(chunk, 1)`` over chunks of ``step`` users on ``workers`` threads, each
    chunk's product on one BLAS thread and its selection on one numba thread (so both
    stay in one core's cache, and no thread waits for another's share of a product);
    the results in order, merged by ``per_group``. At most 2 x workers chunks are under
    way: memory stays bounded whatever the users."""
    chunks = iter(u_idx[s:s + step] for s in range(0, u_idx.size, step))
    pool = ThreadPoolExecutor(workers, thread_name_prefix="latentrec-topk")
    pending: deque = deque()

    def submit():
        chunk = next(chunks, None)
        if chunk is not None:
            pending.append(pool.submit(select, chunk, 1))

    try:
        with threadpool_limits(limits=1, user_api="blas"):
            for _ in range(2 * workers):
                submit()
            group = []
            while pending:
                group.append(pending.popleft().result())
                submit()
                if len(group) == per_group or not pending:
                    yield tuple(np.concatenate(part) for part in zip(*group))
                    group = []
    finally:  # also when the caller stops early: no task left running
        pool.shutdown(wait=True, cancel_futures=True)
