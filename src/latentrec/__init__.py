"""latentrec: matrix-factorization recommenders, compiled and complete."""

from .data import IdMap, Ratings
from .errors import DataError, LatentrecError, ModelFileError, NotFittedError, UnknownIdError

__version__ = "0.1.0"

__all__ = [
    "Ratings", "IdMap", "DataError", "LatentrecError", "ModelFileError", "NotFittedError",
    "UnknownIdError", "__version__",
]
