"""The data layer: Ratings, IdMap, readers and writers, splits, bundled and synthetic data."""

from .idmap import IdMap
from .ratings import DuplicateRatingsWarning, Ratings, RatingsSummary

__all__ = ["IdMap", "Ratings", "RatingsSummary", "DuplicateRatingsWarning"]
