"""SGD for biased matrix factorization: one epoch serial, one epoch over blocks.

Model: pred = mu + bu[u] + bi[i] + P[u] . Q[i]  (biased=False: pred = P[u] . Q[i]; mu and
the biases are then neither read nor updated). Per rating, with e = r - pred::

    bu[u] += lr * (e - reg_bias * bu[u]);  bi[i] += lr * (e - reg_bias * bi[i])
    for k:  p = P[u, k];  P[u, k] += lr * (e * Q[i, k] - reg * p)
                          Q[i, k] += lr * (e * p - reg * Q[i, k])   (simultaneous update)

The adaptive step (``gu``/``gi`` given, shape (rows, 2): LibMF's schedule, Chin et al. 2015,
with one accumulator a row for its factors, column 0, and one for its bias, column 1):
with a = e * Q[i] - reg * P[u] and b = e * P[u] - reg * Q[i] (the descent directions
above), lr / sqrt(gu[u, 0]) and lr / sqrt(gi[i, 0]) replace lr in the user's and the item's
factor updates, and then gu[u, 0] += mean(a**2), gi[i, 0] += mean(b**2) (from p.p, q.q and
p.q, read with the prediction: see ``_sgd_ratings``); a bias steps by
lr / sqrt(g[., 1]) along c = e - reg_bias * bias, then g[., 1] += c**2. (The biases need
their own: a factor's gradient is scaled by the other side's small factors, so its
accumulator grows slowly, and a bias stepping by it stays near lr, fitting noise.)

Entry points (plain functions of arrays; P, Q, bu, bi are updated in place; each epoch
returns the sum of e**2 over the epoch as a Python float, NaN/inf when training diverged):

    sgd_epoch(users, items, values, order, P, Q, bu, bi, mu, lr, reg, reg_bias, biased, *,
              gu=None, gi=None)
        serial, visiting ratings order[0], order[1], ...; bit-for-bit repeatable.
    make_block_layout(users, items, values, n_users, n_items, n_threads=1, seed=0,
                      *, n_blocks=None, n_factors=100) -> BlockLayout  (kernels/blocks.py;
        also its two steps, group_blocks and order_blocks)
    sgd_epoch_blocks(layout, P, Q, bu, bi, mu, lr, reg, reg_bias, biased, epoch_seed,
                     n_threads=None, *, gu=None, gi=None)
        parallel and race free; the result depends on (layout, epoch_seed) only, so it is
        identical for every thread count (None: as many as numba may use).
    sgd_rounds(users, items, values, block_ptr, rounds, P, Q, bu, bi, mu, lr, reg,
               reg_bias, biased, n_threads=1)
        the same over any rounds of a g x g grid's blocks (unchecked; the "dsgd" schedule
        gives its own).
    run_blocks(blocks, step, n_threads=1, *, order=None, rows=None, cols=None)
        -> float64 (n_blocks,)
        the one block runner behind both (and behind a cluster worker's sub-epoch): any
        blocks (users, items, values, lo, hi, P, Q, bu, bi), step (mu, lr, reg, reg_bias,
        biased), each started once the earlier blocks of its row and column stripe are
        done (kernels/dataflow.py); each block's sum of e**2.
    predict_pairs(users, items, P, Q, bu, bi, mu, n_threads=None) -> P.dtype array
        mu + bu[u] + bi[i] + P[u].Q[i]: kernels/predict.py's, which every model's
        validation error uses (importable from here too).

Arrays: users/items int32 (any integer type works), values float32/float64, P (n_users, K)
and Q (n_items, K) C-contiguous float32 or float64, bu/bi 1-D of P's dtype. Scalars are cast
to P's dtype, so float32 factors train in float32 throughout (vectorised K loop). The
three products a rating reads (P[u].Q[i], and P[u].P[u] and Q[i].Q[i] for the adaptive
step) come from kernels/row_moments.py, in whole vector registers and a fixed order.

The per-rating maths lives once, in ``_sgd_ratings``, which reads the four regularization
weights (reg_p, reg_q, reg_bu, reg_bi) separately: per-user or per-item weights would change
that function's lookups and the entry points' arguments, nothing else.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .blocks import (
    BlockLayout,
    block_schedule,
    default_n_blocks,
    group_blocks,
    make_block_layout,
    order_blocks,
)
from .dataflow import run_dataflow
from .predict import _check_factors, predict_pairs
from .prefetch import prefetch_row
from .row_moments import row_moments
from .threads import thread_count

__all__ = ["sgd_epoch", "sgd_epoch_blocks", "sgd_rounds", "run_blocks", "make_block_layout",
           "group_blocks", "order_blocks", "block_schedule", "default_n_blocks",
           "predict_pairs", "BlockLayout"]

# fastmath without nnan/ninf: reassociation lets the K loops vectorise, while a diverging
# run still shows up as a NaN/inf sum of squared errors. Same binary, same order -> same bits.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
#: how many ratings ahead the kernel asks for the factor rows it will read (a new user's P
#: row is a miss to memory at scale; a hint changes no value, so no bit of the model)
_AHEAD = 8


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def _sgd_ratings(users, items, values, order, lo, hi, P, Q, bu, bi, gu, gi, mu, lr, reg_p,
                 reg_q, reg_bu, reg_bi, biased, adaptive):
    """Ratings order[lo:hi] (or lo:hi when ``order`` is empty), in turn; returns sum e**2.
    ``adaptive``: each row's steps are lr / sqrt(its accumulated squared gradients), gu[u]
    and gi[i] (see the module doc); otherwise gu and gi are not read."""
    t = P.dtype.type
    K = P.shape[1]
    per_k = t(1.0 / K)
    use_order = order.shape[0] > 0
    sse = 0.0
    for jj in range(lo, hi):
        j = order[jj] if use_order else jj
        if jj + _AHEAD < hi:
            ahead = order[jj + _AHEAD] if use_order else jj + _AHEAD
            prefetch_row(P, users[ahead])
            prefetch_row(Q, items[ahead])
        u, i = users[j], items[j]
        dot, pp, qq = row_moments(P, u, Q, i)  # pp and qq unused by the constant step
        pred = (mu + bu[u] + bi[i]) + dot if biased else dot
        e = t(values[j]) - pred
        su = si = lr
        if adaptive:
            su, si = lr / np.sqrt(gu[u, 0]), lr / np.sqrt(gi[i, 0])
            # mean(a**2) and mean(b**2) expanded (|e q - reg p|^2 = e^2 q.q - 2 e reg p.q +
            # reg^2 p.p): known before the update loop, so the next rating of the same
            # user need not wait for that loop to get its step size (epochs ~25% faster
            # than summing a**2 in the loop)
            g2u = e * e * qq - t(2) * e * reg_p * dot + reg_p * reg_p * pp
            g2i = e * e * pp - t(2) * e * reg_q * dot + reg_q * reg_q * qq
            gu[u, 0] += max(g2u, t(0)) * per_k
            gi[i, 0] += max(g2i, t(0)) * per_k
        if biased and adaptive:
            cu, ci = e - reg_bu * bu[u], e - reg_bi * bi[i]
            bu[u] += lr / np.sqrt(gu[u, 1]) * cu
            bi[i] += lr / np.sqrt(gi[i, 1]) * ci
            gu[u, 1] += cu * cu
            gi[i, 1] += ci * ci
        elif biased:
            bu[u] += lr * (e - reg_bu * bu[u])
            bi[i] += lr * (e - reg_bi * bi[i])
        for k in range(K):
            p, q = P[u, k], Q[i, k]
            P[u, k] = p + su * (e * q - reg_p * p)
            Q[i, k] = q + si * (e * p - reg_q * q)
        sse += float(e) * float(e)
    return sse


def sgd_epoch(users, items, values, order, P, Q, bu, bi, mu, lr, reg, reg_bias, biased, *,
              gu=None, gi=None):
    """One serial epoch over ``order`` (indices into users/items/values); see module doc."""
    _check_factors(P, Q, bu, bi)
    gu, gi, adaptive = _accumulators(gu, gi, P, Q)
    _check_ratings(users, items, values, P.shape[0], Q.shape[0])
    order = np.asarray(order)
    if order.ndim != 1 or order.dtype.kind not in "iu":
        raise ValueError(f"order must be a 1-D integer array, got {order.dtype} {order.shape}")
    if order.size and (int(order.min()) < 0 or int(order.max()) >= users.shape[0]):
        raise ValueError(f"order must index the {users.shape[0]} ratings; got values in "
                         f"[{int(order.min())}, {int(order.max())}]")
    t = P.dtype.type
    return float(_sgd_ratings(users, items, values, order, 0, order.shape[0], P, Q, bu, bi,
                              gu, gi, t(mu), t(lr), t(reg), t(reg), t(reg_bias), t(reg_bias),
                              bool(biased), adaptive))


def _accumulators(gu, gi, P, Q):
    """(gu, gi, adaptive): the given accumulators, checked (both or neither; two per row
    of P and Q, in P's dtype), or empty ones and False."""
    if gu is None and gi is None:
        empty = np.empty((0, 2), P.dtype)
        return empty, empty, False
    if gu is None or gi is None:
        raise ValueError("give both gu and gi (the adaptive step's accumulators), or neither")
    for g, m, name in ((gu, P.shape[0], "gu"), (gi, Q.shape[0], "gi")):
        if g.shape != (m, 2) or g.dtype != P.dtype:
            raise ValueError(f"{name} must have shape ({m}, 2) and dtype {P.dtype}; got "
                             f"{g.dtype} {g.shape}")
    return gu, gi, True


def sgd_epoch_blocks(layout, P, Q, bu, bi, mu, lr, reg, reg_bias, biased, epoch_seed,
                     n_threads=None, *, gu=None, gi=None):
    """One parallel epoch over a :class:`BlockLayout`: the rounds of block_schedule(), each
    block started once its stripes' blocks of earlier rounds are done (kernels/dataflow.py)."""
    users, items, values, block_ptr, ub, ib = layout
    _check_factors(P, Q, bu, bi)
    if P.shape[0] != ub[-1] or Q.shape[0] != ib[-1]:
        raise ValueError(f"the layout was built for {ub[-1]} users and {ib[-1]} items; got P "
                         f"with {P.shape[0]} rows and Q with {Q.shape[0]}")
    rounds = block_schedule(ub.shape[0] - 1, epoch_seed)
    return sgd_rounds(users, items, values, block_ptr, rounds, P, Q, bu, bi, mu, lr, reg,
                      reg_bias, biased, thread_count(n_threads), gu=gu, gi=gi)


def sgd_rounds(users, items, values, block_ptr, rounds, P, Q, bu, bi, mu, lr, reg, reg_bias,
               biased, n_threads=1, *, gu=None, gi=None):
    """The blocks of ``rounds`` (ids row stripe * g + column stripe of a g x g grid), each
    started once its stripes' blocks of earlier rounds are done: :func:`run_blocks` over
    the grid's blocks. Returns the sum of e**2 over all of them."""
    g = rounds.shape[1]
    # within a round the order changes nothing but which block starts first: longest first
    sizes = np.diff(block_ptr)
    rounds = np.take_along_axis(rounds, np.argsort(-sizes[rounds], 1, kind="stable"), 1)
    ids = np.arange(g * g)
    gu, gi, adaptive = _accumulators(gu, gi, P, Q)
    extra = (gu, gi) if adaptive else ()
    blocks = [(users, items, values, block_ptr[b], block_ptr[b + 1], P, Q, bu, bi, *extra)
              for b in ids]
    sse = run_blocks(blocks, (mu, lr, reg, reg_bias, biased), n_threads,
                     order=rounds.ravel(), rows=ids // g, cols=ids % g)
    return float(sse.sum())


def run_blocks(blocks, step, n_threads=1, *, order=None, rows=None, cols=None):
    """SGD over blocks of ratings on ``n_threads`` threads; float64 (len(blocks),): each
    block's sum of e**2.

    ``blocks[b] = (users, items, values, lo, hi, P, Q, bu, bi[, gu, gi])``: ratings lo..hi
    of those arrays, in storage order, updating those factors (and, with the adaptive
    step's accumulators gu and gi, those) (the blocks may share one layout and
    one set of factors, as a grid's do, or each bring its own arrays, as a cluster
    worker's do). ``step = (mu, lr, reg, reg_bias, biased)``, cast to the factors' dtype.
    Block b starts once the blocks before it in ``order`` (default: as given) that share
    its row stripe ``rows[b]`` or its column stripe ``cols[b]`` are done
    (kernels/dataflow.py); by default each block has stripes of its own, so blocks that
    share a factor row must say so. The result is that of running ``order`` serially, for
    any thread count. Unchecked: the callers build the blocks.
    """
    sse = np.zeros(len(blocks))
    if not blocks:
        return sse
    t = blocks[0][5].dtype.type
    mu, lr, reg, reg_bias, biased = step
    scalars = (t(mu), t(lr), t(reg), t(reg), t(reg_bias), t(reg_bias), bool(biased))
    no_order, no_g = np.empty(0, np.int64), np.empty((0, 2), t)

    def run(b):
        users, items, values, lo, hi, P, Q, bu, bi, *g = blocks[b]
        gu, gi = g if g else (no_g, no_g)
        sse[b] = _sgd_ratings(users, items, values, no_order, lo, hi, P, Q, bu, bi, gu, gi,
                              *scalars, bool(g))

    every = np.arange(len(blocks))
    run_dataflow(every if order is None else order, every if rows is None else rows,
                 every if cols is None else cols, run, n_threads)
    return sse


def _check_ratings(users, items, values, n_users, n_items):
    n = users.shape[0]
    if users.ndim != 1 or items.shape != (n,) or values.shape != (n,):
        raise ValueError(f"users, items and values must be 1-D of one length; got shapes "
                         f"{users.shape}, {items.shape}, {values.shape}")
    for idx, m, name in ((users, n_users, "users"), (items, n_items, "items")):
        if n and (int(idx.min()) < 0 or int(idx.max()) >= m):
            raise ValueError(f"{name} must lie in [0, {m}) (the factor rows); got values in "
                             f"[{int(idx.min())}, {int(idx.max())}]")
