"""The one filter engine: sonar's ``filters`` JSON → typed tree → validated → one SQL predicate.

``parse_filters`` (tree.py) turns the JSON into pydantic models, ``FilterCompiler``
(compiler.py) checks names against the database and compiles the tree into a ``Q`` on
``Sample`` that runs on the GIN/btree/GiST indexes. Every endpoint that takes ``filters`` goes
through :func:`ena_like.queries.filtering.filtered_samples`, which uses both.
"""

from ena_like.filters.compiler import FilterCompiler
from ena_like.filters.errors import FilterError
from ena_like.filters.tree import FilterNode, parse_filters

__all__ = [
    "FilterCompiler",
    "FilterError",
    "FilterNode",
    "parse_filters",
]
