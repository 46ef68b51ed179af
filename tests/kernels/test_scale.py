"""kernels/scale.py gives NumPy's ``a *= np.float64(factor)``, bit for bit."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec.kernels.scale import scale_rows


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from([np.float32, np.float64]), rows=st.integers(0, 300),
       cols=st.integers(1, 40), factor=st.floats(1e-3, 1e3), seed=st.integers(0, 2**32 - 1),
       n_threads=st.sampled_from([1, 2, None]), strided=st.booleans())
def test_scaling_is_numpys(dtype, rows, cols, factor, seed, n_threads, strided):
    a = np.random.default_rng(seed).standard_normal((rows, 2 * cols)).astype(dtype)
    if strided:
        a = a[:, ::2]  # not contiguous
    want = a.copy()
    want *= np.sqrt(np.float64(factor))
    scale_rows(a, np.sqrt(np.float64(factor)), n_threads)
    np.testing.assert_array_equal(a, want)


@pytest.mark.parametrize("a, message", [
    (np.ones(3, np.float32), "writable 2-D array; got shape \\(3,\\)"),
    (np.ones((2, 2), np.int64), "float32 or float64; got int64"),
])
def test_bad_arrays_are_refused(a, message):
    with pytest.raises(ValueError, match=message):
        scale_rows(a, 2.0)


def test_a_read_only_array_is_refused():
    a = np.ones((2, 2), np.float32)
    a.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        scale_rows(a, 2.0)
