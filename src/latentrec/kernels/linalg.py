"""Small dense solves inside compiled loops: Cholesky factorization and triangular solves.

One copy of the maths for every kernel that solves a symmetric positive definite system
per row (ALS's normal equations in :mod:`.als`, BPMF's posterior draws in :mod:`.bpmf`).
All work in place on the leading ``n x n`` block of ``L`` (or ``A``) and the first ``n``
entries of ``b``, so a caller can reuse one scratch matrix for systems of several sizes.
Only the lower triangle is read; the strict upper triangle is never touched.

    cholesky(A, n) -> bool
        A = L L' in place (the lower triangle becomes L); False when A is not positive
        definite (A then holds garbage).
    forward_solve(L, b, n)    L y = b, in place of b.
    back_solve(L, y, n)       L' x = y, in place of y.
    cho_solve(L, b, n)        (L L') x = b, in place of b (forward_solve, then back_solve).
    cholesky_solve(A, b, n) -> bool
        cholesky, then cho_solve: A x = b with b becoming x; False as for cholesky.

The loops run in the textbook order (row by row, each dot product from the first column
on). They are compiled with ``inline="always"``: numba copies them into the calling
kernel, which then compiles them with *its own* floating-point flags. ALS (fastmath
without nnan/ninf) and BPMF (strict IEEE) thus each get exactly the instructions they had
when each held its own copy, and so the same bits. Called from Python they run strict.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["back_solve", "cho_solve", "cholesky", "cholesky_solve", "forward_solve"]


@njit(inline="always", cache=True)
def cholesky(A, n):
    """A = L L' in place on A[:n, :n] (lower triangle read and written); see module doc."""
    for j in range(n):
        s = A[j, j]
        for k in range(j):
            s -= A[j, k] * A[j, k]
        if not s > 0.0:
            return False
        d = np.sqrt(s)
        A[j, j] = d
        for i in range(j + 1, n):
            s = A[i, j]
            for k in range(j):
                s -= A[i, k] * A[j, k]
            A[i, j] = s / d
    return True


@njit(inline="always", cache=True)
def forward_solve(L, b, n):
    """Solve L y = b (L lower triangular, L[:n, :n] read) in place of b[:n]."""
    for i in range(n):
        s = b[i]
        for k in range(i):
            s -= L[i, k] * b[k]
        b[i] = s / L[i, i]


@njit(inline="always", cache=True)
def back_solve(L, y, n):
    """Solve L' x = y (L lower triangular, L[:n, :n] read) in place of y[:n]."""
    for i in range(n - 1, -1, -1):
        s = y[i]
        for k in range(i + 1, n):
            s -= L[k, i] * y[k]
        y[i] = s / L[i, i]


@njit(inline="always", cache=True)
def cho_solve(L, b, n):
    """Solve (L L') x = b in place of b[:n], given the Cholesky factor L."""
    forward_solve(L, b, n)
    back_solve(L, b, n)


@njit(inline="always", cache=True)
def cholesky_solve(A, b, n):
    """Solve A x = b for symmetric positive definite A[:n, :n], in place (A becomes L, b
    becomes x). Returns False when A is not positive definite (A and b hold garbage)."""
    if not cholesky(A, n):
        return False
    cho_solve(A, b, n)
    return True
