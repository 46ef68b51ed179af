"""Evaluation: metrics of rating error, top-k lists, AUC and coverage; protocols."""

from .metrics import (
    auc,
    catalog_coverage,
    hit_rate_at_k,
    mae,
    map_at_k,
    mrr,
    ndcg_at_k,
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
    "hit_rate_at_k", "auc", "catalog_coverage",
]
