"""Numba kernels: pure functions of arrays (no objects, no I/O, nothing else from latentrec).

One module per family, each documenting its entry points' signatures at the top, e.g.
:mod:`.sgd` (SGD epochs, serial and over the block schedule of :mod:`.blocks`) and
:mod:`.classic` (the loop behind :func:`latentrec.matrix_factorization`). Maths that several
models share has one home each: :mod:`.linalg` (Cholesky and triangular solves),
:mod:`.moments` (exact moments for standardising), :mod:`.predict` (predicted ratings of
pairs, RMSE) and :mod:`.topk` (the best k of each row: every recommend and similar_*).
Submodules are imported where used; importing this package compiles nothing.
"""

from .cache_stamp import install as _install_cache_stamp

_install_cache_stamp()  # before any kernel module compiles or loads from numba's cache
