"""Models: one shared surface (``Recommender``) and the algorithms behind it."""

from .als import ALSMatrixFactorization
from .base import FoldedUser, Recommender
from .baselines import BiasBaseline, GlobalMean, Popularity, RandomRecommender
from .bayes import BayesianMatrixFactorization
from .engine import Engine, LocalEngine
from .fm import BayesianFactorizationMachine
from .implicit import BPR, ImplicitALS
from .sgd import SGDMatrixFactorization

__all__ = ["Recommender", "FoldedUser", "SGDMatrixFactorization", "GlobalMean",
           "BiasBaseline", "Popularity", "RandomRecommender", "ALSMatrixFactorization",
           "ImplicitALS", "BPR", "BayesianMatrixFactorization",
           "BayesianFactorizationMachine", "Engine", "LocalEngine"]
