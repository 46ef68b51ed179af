"""ALS kernels against slow, obvious NumPy versions of the same solves."""

import numpy as np
import pytest
import scipy.sparse as sp

from latentrec.kernels import als as K


def csr_problem(n_rows=25, n_cols=18, density=0.3, k=4, dtype=np.float64, seed=0,
                empty_rows=(3,)):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_rows, n_cols)) < density
    mask[list(empty_rows)] = False
    R = sp.csr_matrix(np.where(mask, 1 + 4 * rng.random((n_rows, n_cols)), 0.0))
    indptr, indices, values = R.indptr.astype(np.int64), R.indices, R.data.astype(dtype)
    X = (rng.normal(size=(n_rows, k)) * 0.3).astype(dtype)
    Y = (rng.normal(size=(n_cols, k)) * 0.3).astype(dtype)
    bx = rng.normal(size=n_rows).astype(dtype) * 0.1
    by = rng.normal(size=n_cols).astype(dtype) * 0.1
    return indptr, indices, values, X, bx, Y, by


def reference_als(indptr, indices, values, Y, by, reg, reg_bias, biased):
    """numpy.linalg.solve on each row's normal equations (ALS-WR weights)."""
    n, k = indptr.size - 1, Y.shape[1]
    X, bx, sse = np.zeros((n, k)), np.zeros(n), 0.0
    for u in range(n):
        cols = indices[indptr[u]:indptr[u + 1]]
        if cols.size == 0:
            continue
        v = values[indptr[u]:indptr[u + 1]].astype(np.float64)
        A = Y[cols].astype(np.float64)
        y = v - by[cols] if biased else v
        lam = [reg * cols.size] * k
        if biased:
            A = np.hstack([A, np.ones((cols.size, 1))])
            lam.append(reg_bias * cols.size)
        x = np.linalg.solve(A.T @ A + np.diag(lam), A.T @ y)
        X[u], bx[u] = x[:k], (x[k] if biased else 0.0)
        sse += np.sum((y - A @ x) ** 2)
    return X, bx, sse


@pytest.mark.parametrize("biased", [True, False])
def test_als_sweep_matches_numpy_solve(biased):
    indptr, indices, values, X, bx, Y, by = csr_problem()
    ref_X, ref_b, ref_sse = reference_als(indptr, indices, values, Y, by, 0.1, 0.3, biased)
    sse = K.als_sweep(indptr, indices, values, X, bx, Y, by, 0.1, 0.3, biased, n_threads=2)
    np.testing.assert_allclose(X, ref_X, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(bx, ref_b, rtol=1e-9, atol=1e-10)
    assert sse == pytest.approx(ref_sse, rel=1e-9)
    assert not X[3].any() and bx[3] == 0  # a row without entries is zeroed


def test_als_sweep_same_for_every_thread_count():
    indptr, indices, values, X, bx, Y, by = csr_problem(n_rows=200, n_cols=50, k=6)
    out = []
    for t in (1, 2):
        Xt, bt = X.copy(), bx.copy()
        K.als_sweep(indptr, indices, values, Xt, bt, Y, by, 0.05, 0.05, True, n_threads=t)
        out.append((Xt, bt))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])


def test_als_sweep_without_regularization_on_singular_row_raises():
    indptr = np.array([0, 1], np.int64)
    X, bx = np.zeros((1, 3)), np.zeros(1)
    Y, by = np.ones((2, 3)), np.zeros(2)
    with pytest.raises(np.linalg.LinAlgError, match="row 0"):
        K.als_sweep(indptr, np.array([1], np.int32), np.array([4.0]), X, bx, Y, by, 0.0, 0.0,
                    True)


def test_als_sweep_checks_its_arrays():
    indptr, indices, values, X, bx, Y, by = csr_problem()
    with pytest.raises(ValueError, match="indptr must have"):
        K.als_sweep(indptr[:-1], indices, values, X, bx, Y, by, 0.1, 0.1, True)
    with pytest.raises(ValueError, match="share dtype and width"):
        K.als_sweep(indptr, indices, values, X, bx, Y[:, :2].copy(), by, 0.1, 0.1, True)
    with pytest.raises(ValueError, match="reg and reg_bias must be >= 0"):
        K.als_sweep(indptr, indices, values, X, bx, Y, by, -1.0, 0.1, True)


def row_problem(C_row, Y, reg):
    """The full confidence-weighted system of one row, built densely: (A, b)."""
    n_items = Y.shape[0]
    weight, pref = np.ones(n_items), np.zeros(n_items)
    for i, c in C_row.items():
        weight[i] = abs(c)
        pref[i] = 1.0 if c > 0 else 0.0
    A = Y.T @ (weight[:, None] * Y) + reg * np.eye(Y.shape[1])
    return A, Y.T @ (weight * pref)


def reference_cg(C_row, x, Y, reg, steps):
    """Textbook CG on the dense system, from x, stopping like the kernel."""
    A, b = row_problem(C_row, Y, reg)
    x = x.copy()
    r = b - A @ x
    p, rs = r.copy(), r @ r
    if rs < K.CG_TOL:
        return x
    for _ in range(steps):
        Ap = A @ p
        a = rs / (p @ Ap)
        x += a * p
        r -= a * Ap
        new = r @ r
        if new < K.CG_TOL:
            break
        p, rs = r + new / rs * p, new
    return x


def implicit_problem(seed=0, n_rows=20, n_cols=15, k=5, negative=False, dtype=np.float64):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_rows, n_cols)) < 0.3
    mask[2] = False
    C = np.where(mask, 1 + 9 * rng.random((n_rows, n_cols)), 0.0)
    if negative:
        C[mask & (rng.random((n_rows, n_cols)) < 0.3)] *= -1
    R = sp.csr_matrix(C)
    X = rng.random((n_rows, k)).astype(dtype) * 0.3
    Y = rng.random((n_cols, k)).astype(dtype) * 0.3
    return R, X, Y


def rows_of(R):
    return [dict(zip(R.indices[R.indptr[u]:R.indptr[u + 1]], R.data[R.indptr[u]:R.indptr[u + 1]]))
            for u in range(R.shape[0])]


@pytest.mark.parametrize("negative", [False, True])
def test_cg_with_k_steps_reaches_the_exact_solution(negative):
    R, X, Y = implicit_problem(negative=negative)
    k = X.shape[1]
    K.implicit_cg_sweep(R.indptr, R.indices, R.data, X, Y, 0.5, cg_steps=k + 2, n_threads=2)
    for u, row in enumerate(rows_of(R)):
        if not row:
            assert not X[u].any()
            continue
        A, b = row_problem(row, Y, 0.5)
        np.testing.assert_allclose(X[u], np.linalg.solve(A, b), rtol=1e-6, atol=1e-8)


def test_cg_three_steps_equal_textbook_cg_from_the_previous_factors():
    R, X, Y = implicit_problem(seed=3, k=8)
    start = X.copy()
    K.implicit_cg_sweep(R.indptr, R.indices, R.data, X, Y, 0.1, cg_steps=3)
    for u, row in enumerate(rows_of(R)):
        if row:
            np.testing.assert_allclose(X[u], reference_cg(row, start[u], Y, 0.1, 3),
                                       rtol=1e-9, atol=1e-12)


def test_cg_float32_close_to_float64():
    R, X, Y = implicit_problem(seed=1)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    K.implicit_cg_sweep(R.indptr, R.indices, R.data, X, Y, 0.5, cg_steps=3)
    K.implicit_cg_sweep(R.indptr, R.indices, R.data.astype(np.float32), X32, Y32, 0.5,
                        cg_steps=3)
    np.testing.assert_allclose(X32, X, rtol=1e-3, atol=1e-4)


def test_cg_sweep_equals_the_implicit_package():
    als = pytest.importorskip("implicit.cpu._als")
    R, X, Y = implicit_problem(seed=2, n_rows=40, n_cols=30, k=6)
    R.data = R.data.astype(np.float32)
    ours, theirs = X.copy(), X.copy()
    K.implicit_cg_sweep(R.indptr, R.indices, R.data, ours, Y, 0.2, cg_steps=3)
    als.least_squares_cg(R, theirs, Y, 0.2, num_threads=1, cg_steps=3)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-8)


def test_cg_sweep_checks_its_arguments():
    R, X, Y = implicit_problem()
    with pytest.raises(ValueError, match="cg_steps must be a positive integer"):
        K.implicit_cg_sweep(R.indptr, R.indices, R.data, X, Y, 0.1, cg_steps=0)
    with pytest.raises(ValueError, match="indices must lie in"):
        K.implicit_cg_sweep(R.indptr, R.indices, R.data, X, Y[:5].copy(), 0.1)
    with pytest.raises(ValueError, match="C-contiguous"):
        K.implicit_cg_sweep(R.indptr, R.indices, R.data, np.asfortranarray(X), Y, 0.1)


def test_row_blocks_cover_all_rows_with_balanced_work():
    indptr = np.concatenate([[0], np.cumsum(np.r_[np.full(10, 100), np.ones(990)])])
    bounds = K.row_blocks(indptr.astype(np.int64), 1.0, n_threads=2)
    assert bounds[0] == 0 and bounds[-1] == 1000 and np.all(np.diff(bounds) > 0)
    work = np.diff(np.concatenate([[0.0], np.cumsum(np.diff(indptr) + 1.0)])[bounds])
    assert work.max() < 2.5 * work.mean()
    np.testing.assert_array_equal(K.row_blocks(indptr.astype(np.int64), 1.0, 1), [0, 1000])
