"""Models: one shared surface (``Recommender``) and the algorithms behind it."""

from .base import FoldedUser, Recommender
from .baselines import BiasBaseline, GlobalMean, Popularity, RandomRecommender
from .sgd import SGDMatrixFactorization

__all__ = ["Recommender", "FoldedUser", "SGDMatrixFactorization", "GlobalMean",
           "BiasBaseline", "Popularity", "RandomRecommender"]
