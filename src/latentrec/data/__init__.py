"""The data layer: Ratings, IdMap, readers and writers, splits, bundled and synthetic data."""

from .idmap import IdMap
from .io import read_ratings, write_ratings
from .ratings import DuplicateRatingsWarning, Ratings, RatingsSummary
from .split import KFold, Split, cold_start_split, holdout, k_fold, time_split, user_holdout
from .synthetic import SyntheticTruth, synthetic

__all__ = ["IdMap", "Ratings", "RatingsSummary", "DuplicateRatingsWarning", "Split", "KFold",
           "holdout", "k_fold", "user_holdout", "time_split", "cold_start_split", "synthetic",
           "SyntheticTruth",
           "read_ratings", "write_ratings"]
