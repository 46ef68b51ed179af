"""kernels/fm.py against a plain NumPy factorization machine over the dense design matrix
(one row per rating holding every feature of its entities), draw by draw."""

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec.kernels import fm as kern
from latentrec.models.fm_design import Block, assemble


def fm_predict(X, w0, w, VT):
    """The textbook second-order FM on dense rows."""
    XV = X @ VT.T
    return w0 + X @ w + 0.5 * ((XV ** 2) - (X ** 2) @ (VT.T ** 2)).sum(axis=1)


def reference_factor_pass(f, cols, X, y, w0, w, VT, mu, lam, alpha, z):
    VT = VT.copy()
    for k, j in enumerate(cols):
        e = y - fm_predict(X, w0, w, VT)
        t = VT[f, j]
        q = X @ VT[f]
        h = X[:, j] * (q - X[:, j] * t)
        prec = alpha * h @ h + lam[j]
        mean = (alpha * h @ (e + t * h) + lam[j] * mu[j]) / prec
        VT[f, j] = mean + z[k] / np.sqrt(prec)
    return VT


def reference_linear_pass(cols, X, y, w0, w, VT, mu, lam, alpha, z):
    w = w.copy()
    for k, j in enumerate(cols):
        e = y - fm_predict(X, w0, w, VT)
        h = X[:, j]
        prec = alpha * h @ h + lam[j]
        w[j] = (alpha * h @ (e + w[j] * h) + lam[j] * mu[j]) / prec + z[k] / np.sqrt(prec)
    return w


def random_problem(seed, n_blocks, K):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 25))
    blocks = []
    for b in range(n_blocks):
        n_ent, n_feat = int(rng.integers(1, 6)), int(rng.integers(1, 5))
        F = sp.random(n_ent, n_feat, density=0.7, random_state=rng, format="csr",
                      data_rvs=lambda m: rng.normal(size=m))
        cut = int(rng.integers(0, n_feat + 1))  # two groups (one may be empty)
        groups = [(f"g{b}_{g}", size) for g, size in enumerate((cut, n_feat - cut))
                  if size > 0]
        ent = rng.integers(0, n_ent, n)
        blocks.append(Block(f"b{b}", ent, F, groups))
    d = assemble(blocks)
    X = np.zeros((n, d.n_features))  # dense design: the union of a row's entity features
    for b, blk in enumerate(blocks):
        dense = blk.features.toarray()
        X[:, d.bfeat[b]:d.bfeat[b + 1]] = dense[blk.entity_of_row]
    J, G = d.n_features, len(d.group_names)
    state = dict(VT=rng.normal(size=(K, J)), w=rng.normal(size=J), w0=float(rng.normal()),
                 mu_w=rng.normal(size=G), lam_w=rng.gamma(2.0, size=G),
                 mu_v=rng.normal(size=(G, K)), lam_v=rng.gamma(2.0, size=(G, K)),
                 y=rng.normal(size=n), alpha=float(rng.gamma(2.0)))
    return d, X, state, rng


def kernel_state(d, s):
    """(q, s2) K x E as the passes take them, lin, residuals (natural order)."""
    K, E = s["VT"].shape[0], d.n_entities
    q, s2, lin, e = np.zeros((E, K)), np.zeros((E, K)), np.zeros(E), np.empty(len(s["y"]))
    kern.entity_sums(d.ef_ptr, d.ef_idx, d.ef_val, np.ascontiguousarray(s["VT"].T), s["w"],
                     q, s2, lin)
    kern.residuals(s["y"], d.ent, q, s2, lin, s["w0"], e)
    return np.ascontiguousarray(q.T), np.ascontiguousarray(s2.T), lin, e


def in_block_order(d, b, v):
    n = d.ent.shape[1]
    return v[d.erow_idx[b * n:(b + 1) * n]]


def args(d):
    return (d.eo, d.erow_ptr, d.fe_ptr, d.fe_ent, d.fe_val, d.bent, d.bfeat, d.grp)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 3), st.integers(1, 3))
def test_residuals_are_those_of_the_dense_fm(seed, n_blocks, K):
    d, X, s, _ = random_problem(seed, n_blocks, K)
    _, _, _, e = kernel_state(d, s)
    np.testing.assert_allclose(e, s["y"] - fm_predict(X, s["w0"], s["w"], s["VT"]),
                               rtol=1e-10, atol=1e-10)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 3), st.integers(1, 3))
def test_the_factor_passes_of_a_sweep_match_numpy(seed, n_blocks, K):
    """Every pass of a sweep in order, block after block: each draws what the reference
    draws and first brings the residuals up to date with every earlier draw; between
    blocks, hand_over gives the residuals in the next block's order, up to date."""
    d, X, s, rng = random_problem(seed, n_blocks, K)
    q, s2, lin, e_nat = kernel_state(d, s)
    e = in_block_order(d, 0, e_nat)
    VT, want = s["VT"].copy(), s["VT"]
    for b in range(n_blocks):
        prev = (np.zeros(0), np.zeros(0))
        for f in range(K):
            cols = np.arange(d.bfeat[b], d.bfeat[b + 1])
            z = rng.normal(size=cols.size)
            before = want
            prev = kern.factor_pass(f, b, *args(d), s["mu_v"], s["lam_v"], s["alpha"], z,
                                    VT, q, s2, *prev, e)
            want = reference_factor_pass(f, cols, X, s["y"], s["w0"], s["w"], want,
                                         s["mu_v"][d.grp, f], s["lam_v"][d.grp, f],
                                         s["alpha"], z)
            np.testing.assert_allclose(VT, want, rtol=1e-8, atol=1e-8)
            seen = s["y"] - fm_predict(X, s["w0"], s["w"], before)
            np.testing.assert_allclose(e, in_block_order(d, b, seen), atol=1e-8)
        nxt = (b + 1) % n_blocks
        out = np.empty_like(e)
        kern.hand_over(K - 1, b, nxt, d.eo, d.bent, d.perm[b], q, s2, *prev, e, out)
        e = out
        now = s["y"] - fm_predict(X, s["w0"], s["w"], want)
        np.testing.assert_allclose(e, in_block_order(d, nxt, now), atol=1e-8)
    q2, s22, _, _ = kernel_state(d, dict(s, VT=VT))
    np.testing.assert_allclose(q, q2, atol=1e-8)
    np.testing.assert_allclose(s2, s22, atol=1e-8)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 3), st.integers(1, 3))
def test_linear_pass_matches_numpy(seed, n_blocks, K):
    d, X, s, rng = random_problem(seed, n_blocks, K)
    b = int(rng.integers(0, n_blocks))
    q, s2, lin, e_nat = kernel_state(d, s)
    e = in_block_order(d, b, e_nat)
    cols = np.arange(d.bfeat[b], d.bfeat[b + 1])
    z = rng.normal(size=cols.size)
    w = s["w"].copy()
    kern.linear_pass(b, *args(d), s["mu_w"], s["lam_w"], s["alpha"], z, w, lin, e)
    want = reference_linear_pass(cols, X, s["y"], s["w0"], s["w"], s["VT"],
                                 s["mu_w"][d.grp], s["lam_w"][d.grp], s["alpha"], z)
    np.testing.assert_allclose(w, want, rtol=1e-8, atol=1e-8)
    _, _, lin2, e2 = kernel_state(d, dict(s, w=w))
    np.testing.assert_allclose(lin, lin2, atol=1e-8)
    np.testing.assert_allclose(e, in_block_order(d, b, e2), atol=1e-8)
