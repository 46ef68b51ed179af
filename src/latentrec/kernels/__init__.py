"""Numba kernels: pure functions of arrays (no objects, no I/O, nothing else from latentrec).

One module per family, each documenting its entry points' signatures at the top, e.g.
:mod:`.sgd` (SGD epochs, serial and over the block schedule of :mod:`.blocks`; batch
prediction) and :mod:`.classic` (the loop behind :func:`latentrec.matrix_factorization`).
Submodules are imported where used; importing this package compiles nothing.
"""
