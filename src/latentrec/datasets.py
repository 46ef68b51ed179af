"""Named data sets (``latentrec.datasets.load("ml-100k")``) and the synthetic generator."""

from .data.datasets import Dataset, describe, list, load, synthetic  # noqa: A004

__all__ = ["Dataset", "load", "list", "describe", "synthetic"]
