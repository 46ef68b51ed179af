"""Evaluation: metrics of rating error, top-k lists, AUC, coverage, novelty, popularity and
diversity; protocols."""

from .metrics import (
    auc,
    average_popularity,
    catalog_coverage,
    hit_rate_at_k,
    intra_list_diversity,
    mae,
    map_at_k,
    mrr,
    ndcg_at_k,
    novelty,
    precision_at_k,
    recall_at_k,
    rmse,
)
from .protocols import CVResult, compare, cross_validate, evaluate
from .search import SearchResult, grid_search, random_search, tune

__all__ = [
    "evaluate", "cross_validate", "compare", "CVResult", "grid_search", "random_search",
    "SearchResult", "tune",
    "rmse", "mae", "precision_at_k", "recall_at_k", "ndcg_at_k", "map_at_k", "mrr",
    "hit_rate_at_k", "auc", "catalog_coverage", "novelty", "average_popularity",
    "intra_list_diversity",
]
