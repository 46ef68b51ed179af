"""Gibbs sampling kernels for a second-order factorization machine over relational blocks.

A rating n is described by B blocks (user, item, time bin ...): in block b it belongs to
entity ``ent[b, n]``, and each entity s carries a sparse set of features (x_sj). The
model is the factorization machine over the union of the rows' features,

    y_n = w0 + sum_j x_nj w_j + sum_f ((sum_j x_nj V[f, j])^2 - sum_j x_nj^2 V[f, j]^2) / 2,

and, because a row's features are the union of its entities' features, everything is
kept per entity (Rendle, "Scaling factorization machines to relational data", 2013):
``q[f, s] = sum_j x_sj V[f, j]``, ``s2[f, s] = sum_j x_sj^2 V[f, j]^2`` and
``lin[s] = sum_j x_sj w_j``. The model is linear in any one parameter t: y_n moves by
``h_n(t) * delta``, and t's conditional posterior under the prior N(mu, 1/lam) and noise
precision alpha is normal with

    precision = alpha * sum_n h_n^2 + lam
    mean = (alpha * sum_n h_n (e_n + t h_n) + lam mu) / precision

(e the residuals). For V[f, j] of block b, h_n = x_sj (a_s + c_n), with
a_s = q[f, s] - x_sj V[f, j] and c_n the other blocks' q[f, .] for row n, so the sums over
rows reduce to five sums per entity (rows, c, c^2, e, c e), made in one pass over the rows;
then the block's features are drawn one after another over their (feature, entity)
pairs, each draw moving the sums the next one reads. Standard normals ``z`` are drawn by
the caller, one per parameter, so results do not depend on the number of threads.

A sweep draws block after block, and within a block factor after factor: while block b
is drawn only its own entities' sums move, so a pass reads the other blocks' q[f, .] (one
row of q: small enough to stay in cache) and the residuals in block b's row order, in
sequence; the pass of factor f also brings them up to date with the draws of factor
f - 1. Between blocks, ``hand_over`` applies the block's last draws and reorders the
residuals for the next block (at 10M ratings a random access to a residual costs more
than all the arithmetic of a row).

    entity_sums(ef_ptr, ef_idx, ef_val, V, w, q, s2, lin)   (entity-major q, s2)
    residuals(y, ent, q, s2, lin, w0, out) -> out = y - prediction
    linear_pass(b, ...): draw the bias weights w of block b's features
    factor_pass(f, b, ...): draw V[f, :] of block b's features
    hand_over(f, b, ...): the residuals in the next block's order, up to date
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .prefetch import prefetch

#: how many iterations ahead a gather asks for what it will read (kernels/prefetch.py)
_AHEAD = 16


@njit(cache=True, parallel=True)
def entity_sums(ef_ptr, ef_idx, ef_val, V, w, q, s2, lin):
    """q, s2 (E x K: entity-major, unlike the passes' K x E) and lin (E) of every entity
    from the parameters V (J x K) and w."""
    n_ent, K = q.shape
    for s in prange(n_ent):
        lin[s] = 0.0
        for f in range(K):
            q[s, f] = 0.0
            s2[s, f] = 0.0
        for jj in range(ef_ptr[s], ef_ptr[s + 1]):
            j, x = ef_idx[jj], ef_val[jj]
            lin[s] += x * w[j]
            for f in range(K):
                v = V[j, f]
                q[s, f] += x * v
                s2[s, f] += x * x * v * v


@njit(cache=True, parallel=True)
def residuals(y, ent, q, s2, lin, w0, out):
    """out[n] = y[n] - the model's prediction of row n (q, s2 entity-major: E x K)."""
    n_blocks, n = ent.shape
    K = q.shape[1]
    for r in prange(n):
        pred = w0
        for b in range(n_blocks):
            pred += lin[ent[b, r]]
        for f in range(K):
            tot, sq = 0.0, 0.0
            for b in range(n_blocks):
                s = ent[b, r]
                tot += q[s, f]
                sq += s2[s, f]
            pred += 0.5 * (tot * tot - sq)
        out[r] = y[r] - pred


@njit(cache=True)
def _draw(sum_h2, sum_he, t, mu, lam, alpha, z):
    prec = alpha * sum_h2 + lam
    mean = (alpha * (sum_he + t * sum_h2) + lam * mu) / prec
    return mean + z / np.sqrt(prec)


@njit(cache=True, parallel=True)
def linear_pass(b, eo, erow_ptr, fe_ptr, fe_ent, fe_val, bent, bfeat, grp, mu_w, lam_w,
                alpha, z, w, lin, e):
    """Draw w_j for the features of block b (z: one normal per feature of the block);
    ``e``: the residuals in block b's row order."""
    e0, e1 = bent[b], bent[b + 1]
    n = e.shape[0]
    cnt = np.empty(e1 - e0)
    es = np.empty(e1 - e0)
    old = lin[e0:e1].copy()
    for s in prange(e0, e1):
        acc = 0.0
        for rr in range(erow_ptr[s], erow_ptr[s + 1]):
            acc += e[rr - b * n]
        es[s - e0] = acc
        cnt[s - e0] = erow_ptr[s + 1] - erow_ptr[s]
    for j in range(bfeat[b], bfeat[b + 1]):
        sum_h2, sum_he = 0.0, 0.0
        for kk in range(fe_ptr[j], fe_ptr[j + 1]):
            s, x = fe_ent[kk] - e0, fe_val[kk]
            sum_h2 += x * x * cnt[s]
            sum_he += x * es[s]
        g = grp[j]
        new = _draw(sum_h2, sum_he, w[j], mu_w[g], lam_w[g], alpha, z[j - bfeat[b]])
        d = new - w[j]
        w[j] = new
        for kk in range(fe_ptr[j], fe_ptr[j + 1]):
            s, x = fe_ent[kk] - e0, fe_val[kk]
            es[s] -= x * d * cnt[s]
            lin[s + e0] += x * d
    for s in prange(e0, e1):
        d = lin[s] - old[s - e0]
        for rr in range(erow_ptr[s], erow_ptr[s + 1]):
            e[rr - b * n] -= d


@njit(cache=True, inline="always")
def _others(f, b, ents, k, q):
    """Sum of q[f, .] over the entities of the row at column k of ``ents``, block b aside."""
    c = 0.0
    for bb in range(ents.shape[0]):
        if bb != b:
            c += q[f, ents[bb, k]]
    return c


@njit(cache=True, inline="always")
def _moved(f, b, ents, k, q, s2, q_then, s2_then):
    """How much the prediction of the row at column k moved when its block-b entity's
    q[f], s2[f] went from (q_then, s2_then) to their values now."""
    s = ents[b, k]
    dq, ds2 = q[f, s] - q_then, s2[f, s] - s2_then
    if dq == 0.0 and ds2 == 0.0:
        return 0.0
    return dq * (q_then + _others(f, b, ents, k, q)) + 0.5 * (dq * dq - ds2)


@njit(cache=True, parallel=True)
def factor_pass(f, b, eo, erow_ptr, fe_ptr, fe_ent, fe_val, bent, bfeat, grp, mu_v, lam_v,
                alpha, z, VT, q, s2, q_prev, s2_prev, e):
    """Draw V[f, j] for the features of block b (z: one normal per feature of the block).

    ``e`` holds the residuals in block b's row order and ``eo[b]`` every block's entity of
    those rows. For f > 0, ``q_prev``, ``s2_prev`` are block b's q[f - 1], s2[f - 1]
    before the previous pass's draws, which this pass applies to ``e`` as it reads it.
    Returns this pass's (q[f], s2[f]) before its draws, for the next pass or
    :func:`hand_over`."""
    e0, e1 = bent[b], bent[b + 1]
    m = e1 - e0
    # per entity, one cache line: rows, sum c, sum c^2, sum e, sum c e, q, s2
    st = np.empty((m, 8))
    q_old, s2_old = q[f, e0:e1].copy(), s2[f, e0:e1].copy()
    ents = eo[b]
    n = ents.shape[1]
    for s in prange(e0, e1):
        a1, a2, a3, a4 = 0.0, 0.0, 0.0, 0.0
        for rr in range(erow_ptr[s], erow_ptr[s + 1]):
            k = rr - b * n
            er = e[k]
            if f > 0:
                er -= _moved(f - 1, b, ents, k, q, s2, q_prev[s - e0], s2_prev[s - e0])
                e[k] = er
            c = _others(f, b, ents, k, q)
            a1 += c
            a2 += c * c
            a3 += er
            a4 += c * er
        i = s - e0
        st[i, 0] = erow_ptr[s + 1] - erow_ptr[s]
        st[i, 1], st[i, 2], st[i, 3], st[i, 4] = a1, a2, a3, a4
        st[i, 5], st[i, 6] = q[f, s], s2[f, s]
    _draw_block(f, b, e0, fe_ptr, fe_ent, fe_val, bfeat, grp, mu_v, lam_v, alpha, z, VT, st)
    for s in prange(e0, e1):
        q[f, s], s2[f, s] = st[s - e0, 5], st[s - e0, 6]
    return q_old, s2_old


@njit(cache=True, parallel=True)
def hand_over(f, b, bb, eo, bent, perm, q, s2, q_prev, s2_prev, e, out):
    """``out`` = the residuals in block bb's row order, from ``e`` (block b's order,
    ``perm``: each of bb's rows' place in it) brought up to date with the draws of the
    pass (f, b) (q_prev, s2_prev: block b's q[f], s2[f] before them)."""
    ents = eo[bb]
    e0 = bent[b]
    n = out.shape[0]
    for k in prange(n):
        if k + _AHEAD < n:
            prefetch(e, perm[k + _AHEAD])
        i = ents[b, k] - e0
        out[k] = e[perm[k]] - _moved(f, b, ents, k, q, s2, q_prev[i], s2_prev[i])


@njit(cache=True)
def _draw_block(f, b, e0, fe_ptr, fe_ent, fe_val, bfeat, grp, mu_v, lam_v, alpha, z, VT, st):
    """The sequential part: each feature's draw changes the sums the next one reads."""
    for j in range(bfeat[b], bfeat[b + 1]):
        t = VT[f, j]
        sum_h2, sum_he = 0.0, 0.0
        start, stop = fe_ptr[j], fe_ptr[j + 1]
        for kk in range(start, stop):
            if kk + _AHEAD < fe_ptr[bfeat[b + 1]]:  # the next feature's entities too
                prefetch(st, fe_ent[kk + _AHEAD] - e0)
            i, x = fe_ent[kk] - e0, fe_val[kk]
            a = st[i, 5] - x * t
            sum_h2 += x * x * (st[i, 0] * a * a + 2.0 * a * st[i, 1] + st[i, 2])
            sum_he += x * (a * st[i, 3] + st[i, 4])
        g = grp[j]
        new = _draw(sum_h2, sum_he, t, mu_v[g, f], lam_v[g, f], alpha, z[j - bfeat[b]])
        d = new - t
        VT[f, j] = new
        for kk in range(start, stop):
            if kk + _AHEAD < stop:  # a big feature's first entities left the cache
                prefetch(st, fe_ent[kk + _AHEAD] - e0)
            i, x = fe_ent[kk] - e0, fe_val[kk]
            a = st[i, 5] - x * t
            st[i, 3] -= x * d * (st[i, 0] * a + st[i, 1])
            st[i, 4] -= x * d * (a * st[i, 1] + st[i, 2])
            st[i, 5] += x * d
            st[i, 6] += x * x * (new * new - t * t)
