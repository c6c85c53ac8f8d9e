"""The one filter engine: sonar's ``filters`` JSON → typed tree → validated → one SQL predicate.

``parse_filters`` (tree.py) turns the JSON into pydantic models, ``FilterCompiler``
(compiler.py) checks names against the database and compiles the tree into a ``Q`` on
``Sample`` that runs on the GIN/btree/GiST indexes. Every endpoint that takes ``filters`` goes
through :func:`ena_like.queries.filtered_samples`, which uses both.
"""

from ena_like.filters.compiler import FIXED_COLUMNS, FilterCompiler, compile_filters
from ena_like.filters.errors import FilterError
from ena_like.filters.tree import FilterNode, parse_filters

__all__ = [
    "FIXED_COLUMNS",
    "FilterCompiler",
    "FilterError",
    "FilterNode",
    "compile_filters",
    "parse_filters",
]
