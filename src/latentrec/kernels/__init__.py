"""Numba kernels: pure functions of arrays."""
