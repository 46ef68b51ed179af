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
rows reduce to five sums per entity (rows, c, c^2, e, c e), made in one pass over the rows
(which also brings the residuals up to date with the previous pass's draws); then the
block's features are drawn one after another over their (feature, entity) pairs, each
draw moving the sums the next one reads. Standard normals ``z`` are drawn by the caller,
one per parameter, so results do not depend on the number of threads.

    entity_sums(ef_ptr, ef_idx, ef_val, V, w, q, s2, lin)   (entity-major q, s2)
    residuals(y, ent, q, s2, lin, w0, out) -> out = y - prediction
    linear_pass(b, ...): draw the bias weights w of block b's features
    factor_pass(f, b, prev_f, prev_b, ...): draw V[f, :] of block b's features
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


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
def linear_pass(b, ent, erow_ptr, erow_idx, fe_ptr, fe_ent, fe_val, bent, bfeat, grp,
                mu_w, lam_w, alpha, z, w, lin, e):
    """Draw w_j for the features of block b (z: one normal per feature of the block)."""
    e0, e1 = bent[b], bent[b + 1]
    cnt = np.empty(e1 - e0)
    es = np.empty(e1 - e0)
    old = lin[e0:e1].copy()
    for s in prange(e0, e1):
        acc = 0.0
        for rr in range(erow_ptr[s], erow_ptr[s + 1]):
            acc += e[erow_idx[rr]]
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
            e[erow_idx[rr]] -= d


@njit(cache=True)
def _others(f, b, ents, k, q):
    """Sum of q[f, .] over the entities of the row at column k of ``ents``, block b aside."""
    c = 0.0
    for bb in range(ents.shape[0]):
        if bb != b:
            c += q[f, ents[bb, k]]
    return c


@njit(cache=True, parallel=True)
def factor_pass(f, b, prev_f, prev_b, eo, erow_ptr, erow_idx, fe_ptr, fe_ent, fe_val, bent,
                bfeat, grp, mu_v, lam_v, alpha, z, VT, q, s2, e, q_prev, s2_prev):
    """Draw V[f, j] for the features of block b (z: one normal per feature of the block).

    The residuals are brought up to date with the previous pass's draws (of V[prev_f, :]
    in block prev_b, whose entities' q and s2 were ``q_prev``, ``s2_prev`` before it; no
    previous pass: prev_b = -1) in the same pass over the rows that sums them for this
    one; the caller refreshes them after the last pass. ``eo[b]`` holds every block's
    entity of each row, rows in block b's order (``erow_idx``). Returns this pass's
    (q, s2) before the draws, for the next call."""
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
            r = erow_idx[rr]
            er = e[r]
            if prev_b >= 0:
                sp = ents[prev_b, k]
                i_prev = sp - bent[prev_b]
                dq = q[prev_f, sp] - q_prev[i_prev]
                ds2 = s2[prev_f, sp] - s2_prev[i_prev]
                if dq != 0.0 or ds2 != 0.0:
                    cp = _others(prev_f, prev_b, ents, k, q)
                    er -= dq * (q_prev[i_prev] + cp) + 0.5 * (dq * dq - ds2)
                    e[r] = er
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


@njit(cache=True)
def _draw_block(f, b, e0, fe_ptr, fe_ent, fe_val, bfeat, grp, mu_v, lam_v, alpha, z, VT, st):
    """The sequential part: each feature's draw changes the sums the next one reads."""
    for j in range(bfeat[b], bfeat[b + 1]):
        t = VT[f, j]
        sum_h2, sum_he = 0.0, 0.0
        for kk in range(fe_ptr[j], fe_ptr[j + 1]):
            i, x = fe_ent[kk] - e0, fe_val[kk]
            a = st[i, 5] - x * t
            sum_h2 += x * x * (st[i, 0] * a * a + 2.0 * a * st[i, 1] + st[i, 2])
            sum_he += x * (a * st[i, 3] + st[i, 4])
        g = grp[j]
        new = _draw(sum_h2, sum_he, t, mu_v[g, f], lam_v[g, f], alpha, z[j - bfeat[b]])
        d = new - t
        VT[f, j] = new
        for kk in range(fe_ptr[j], fe_ptr[j + 1]):
            i, x = fe_ent[kk] - e0, fe_val[kk]
            a = st[i, 5] - x * t
            st[i, 3] -= x * d * (st[i, 0] * a + st[i, 1])
            st[i, 4] -= x * d * (a * st[i, 1] + st[i, 2])
            st[i, 5] += x * d
            st[i, 6] += x * x * (new * new - t * t)
