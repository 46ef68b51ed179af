"""The errors of training on a cluster."""

from __future__ import annotations

from ..errors import LatentrecError


class ClusterError(LatentrecError, RuntimeError):
    """Training on the cluster stopped: a worker, its data or a task was lost for good.

    The message names the epoch; with a checkpoint, ``fit`` can resume from the last one.
    """


class CheckpointError(LatentrecError, ValueError):
    """A checkpoint that cannot be read, or that was written for other data or settings."""
