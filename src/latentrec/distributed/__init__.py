"""Training beyond one machine: SGDMatrixFactorization on a Dask cluster (DSGD).

    model.fit(data, engine=latentrec.distributed.DaskEngine(client, ...))

gives the model ``SGDMatrixFactorization(schedule="dsgd")`` gives in one process, bit for
bit; ``data`` may be a Ratings, a pandas or dask DataFrame, or a path or glob of Parquet
files read by the workers. Needs the optional extra: ``pip install "latentrec[dask]"``.
See docs/distributed.md. Importing this package imports no dask.

    DaskEngine       the engine (engine.py)
    ClusterError     the fit stopped: a worker's data or a task was lost for good
    CheckpointError  a checkpoint that cannot be read or belongs to another fit
"""

from .errors import CheckpointError, ClusterError

__all__ = ["CheckpointError", "ClusterError", "DaskEngine"]


def __getattr__(name):
    if name == "DaskEngine":  # on demand: engine.py reaches models.base, and models.sgd
        # imports this package (for plan.py) while latentrec.models is being imported
        from .engine import DaskEngine

        return DaskEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
