"""The int8 pre-pass search (kernels.quantized) against top_k over every row's score."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec.kernels.quantized import QuantizedRows, quantized_top_k
from latentrec.kernels.topk import top_k


@st.composite
def problems(draw):
    """Integer-valued rows and queries: every score is exact in float arithmetic, so both
    searches see the same numbers and ties must break alike (lower index first)."""
    n = draw(st.integers(1, 3000))
    d = draw(st.integers(1, 40))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    span = draw(st.sampled_from([1, 3, 200]))  # few values (many ties) or many
    U = rng.integers(-span, span + 1, (n, d)).astype(dtype)
    x = rng.integers(-span, span + 1, d).astype(dtype)
    k = draw(st.integers(0, min(n, 30)))
    exclude = draw(st.integers(-1, n - 1))
    cand = rng.random(n) < 0.5 if draw(st.booleans()) else None
    return U, x, k, exclude, cand


@settings(max_examples=150, deadline=None)
@given(problems())
def test_it_finds_what_scoring_every_row_finds(problem):
    U, x, k, exclude, cand = problem
    got_i, got_s = quantized_top_k(QuantizedRows(U), x, k, exclude=exclude, candidates=cand)
    want_i, want_s = top_k((U @ x)[None, :], k, candidates=cand, exclude=np.array([exclude]))
    np.testing.assert_array_equal(got_i, want_i[0])
    np.testing.assert_array_equal(got_s, want_s[0])


def test_unit_vectors_give_the_lists_of_the_float_scores():
    rng = np.random.default_rng(0)
    U = rng.standard_normal((20_000, 24)).astype(np.float32)
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    U[7] = 0  # a row without factors scores 0
    rows = QuantizedRows(U)
    for q in (3, 7, 500):
        got_i, got_s = quantized_top_k(rows, U[q], 10, exclude=q)
        want_i, want_s = top_k((U @ U[q])[None, :], 10, exclude=np.array([q]))
        np.testing.assert_array_equal(got_i, want_i[0])
        np.testing.assert_allclose(got_s, want_s[0], rtol=1e-6)


@pytest.mark.parametrize("U, match", [
    (np.ones((3, 2), np.int8), "U must be a 2-D float32 or float64 array"),
    (np.array([[1.0, np.nan]]), "U must be finite"),
])
def test_bad_rows_are_refused(U, match):
    with pytest.raises(ValueError, match=match):
        QuantizedRows(U)


@pytest.mark.parametrize("x, k, match", [
    (np.ones(3), 2, r"x must have 2 entries, got \(3,\)"),
    (np.ones(2), 6, r"k must be an integer in \[0, 5\], got 6"),
    (np.ones(2), True, r"k must be an integer in \[0, 5\], got True"),
])
def test_bad_queries_are_refused(x, k, match):
    with pytest.raises(ValueError, match=match):
        quantized_top_k(QuantizedRows(np.ones((5, 2))), x, k)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 40), st.integers(0, 12), st.sampled_from([np.float32, np.float64]),
       st.integers(0, 2**32 - 1))
def test_the_int8_copy_is_the_whole_array_expressions(n, d, dtype, seed):
    rng = np.random.default_rng(seed)
    U = (rng.standard_normal((n, d)) * 10.0 ** rng.integers(-30, 30, (n, 1))).astype(dtype)
    U[rng.random((n, d)) < 0.2] = 0.0  # zeros, and whole zero rows
    if n:
        U[0] = 0.0
    if n > 1 and d > 1:  # ratios of exactly k + 1/2: rint rounds them to the even k
        U[1] = (rng.integers(-126, 126, d) + 0.5) * 2.0 ** -10
        U[1, 0] = 127 * 2.0 ** -10
    rows = QuantizedRows(U)
    top = np.abs(U.astype(np.float64)).max(axis=1) if d else np.zeros(n)
    scale = top / 127.0
    q = np.rint(U / np.where(scale > 0, scale, 1.0)[:, None]).astype(np.int8)
    np.testing.assert_array_equal(rows.scale, scale)
    np.testing.assert_array_equal(rows.q, q)
    np.testing.assert_array_equal(rows.l1, scale * np.abs(q.astype(np.int64)).sum(axis=1))


@pytest.mark.parametrize("U", [
    np.array([[2.0e-43, 0.0], [1.0e-43, 0.0], [0.0, 3.0e-44]], np.float32),  # subnormal
    np.array([[4.0e-321, 0.0], [2.0e-321, 1.0e-322], [5e-324, 0.0]]),  # scale subnormal
])
def test_rows_too_small_for_an_int8_scale_still_give_the_exact_list(U):
    rows = QuantizedRows(U)
    assert np.all(np.sign(rows.q) * np.sign(U) >= 0)  # no int8 wrapped round
    for x in (np.array([1.0, 0.0]), np.array([-1.0, 2.0])):
        for k in (1, 2, 3):
            got_i, _ = quantized_top_k(rows, x, k)
            want_i, _ = top_k((U.astype(np.float64) @ x)[None, :], k)
            np.testing.assert_array_equal(got_i, want_i[0])
