"""latentrec: matrix-factorization recommenders, compiled and complete."""

from . import datasets
from ._version import __version__
from .compat import matrix_factorization
from .data import (
    IdMap,
    Ratings,
    holdout,
    k_fold,
    read_ratings,
    time_split,
    user_holdout,
    write_ratings,
)
from .errors import (
    DataError,
    LatentrecError,
    ModelFileError,
    NotFittedError,
    ParameterError,
    TrainingDivergedError,
    UnknownIdError,
)
from .models import (
    BPR,
    ALSMatrixFactorization,
    BayesianFactorizationMachine,
    BayesianMatrixFactorization,
    BiasBaseline,
    FoldedUser,
    GlobalMean,
    ImplicitALS,
    Popularity,
    RandomRecommender,
    Recommender,
    SGDMatrixFactorization,
)
from .persistence import load_model as load

__all__ = [
    "Ratings", "IdMap", "DataError", "LatentrecError", "ModelFileError", "NotFittedError",
    "UnknownIdError", "TrainingDivergedError", "ParameterError", "Recommender", "FoldedUser",
    "SGDMatrixFactorization", "GlobalMean", "BiasBaseline", "Popularity",
    "RandomRecommender", "ALSMatrixFactorization", "ImplicitALS", "BPR",
    "BayesianMatrixFactorization", "BayesianFactorizationMachine", "load", "holdout",
    "k_fold", "user_holdout", "time_split",
    "__version__", "matrix_factorization", "read_ratings", "write_ratings", "datasets",
]
