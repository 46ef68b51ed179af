"""Named data sets (``latentrec.datasets.load("ml-100k")``), item tables and titles, and the
synthetic generator."""

from .data.datasets import (
    Dataset,
    describe,
    item_titles,
    list,  # noqa: A004
    load,
    read_items,
    synthetic,
)

__all__ = ["Dataset", "load", "list", "describe", "synthetic", "read_items", "item_titles"]
