"""What every admin page of the project shares: list pages that stay fast on tables of millions
of rows, exact-match search that uses the indexes, and JSON shown to people, not as a form.

Django's defaults count every row of a table twice per list page (``COUNT(*)`` for the
paginator and for "N total") and search with ``UPPER(col) LIKE '%x%'``, which no index serves;
at a million samples each takes seconds.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString


def planner_rows(queryset: QuerySet) -> int:
    """The number of rows Postgres' planner expects ``queryset`` to return (no rows are read)."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    """Counts exactly only what is cheap to count; above that, trusts the planner's estimate.

    The estimate follows the table's current size (Postgres scales its statistics by the pages
    on disk), so a list page of a million samples says "about a million" without reading them.
    The last pages may then be empty or missing; the first pages, which people use, are exact.
    """

    #: below this many (estimated) rows an exact ``COUNT(*)`` costs a few milliseconds
    exact_below = 10_000

    @cached_property
    def count(self) -> int:
        if not isinstance(self.object_list, QuerySet):
            return super().count
        estimate = planner_rows(self.object_list)
        return super().count if estimate < self.exact_below else estimate


class FastListAdmin(admin.ModelAdmin):
    """Base of the project's admin pages: no unbounded counts, indexed exact-match search.

    ``exact_search_fields`` are matched with ``=`` (case-sensitive, served by a btree index);
    ``search_fields`` keep Django's substring search for small tables.
    """

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    exact_search_fields: tuple[str, ...] = ()

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        # a non-empty list makes Django show the search box; get_search_results below never
        # hands the exact fields to Django's substring search
        return tuple(self.search_fields) or self.exact_search_fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not self.exact_search_fields or not term:
            return super().get_search_results(request, queryset, search_term)
        exact = Q(pk__in=[])  # matches nothing: a term no exact field can hold finds no row
        for path in self.exact_search_fields:
            field = get_fields_from_path(queryset.model, path)[-1]
            try:
                exact |= Q(**{path: field.to_python(term)})
            except ValidationError:  # "abc" for a UUID or an integer column
                continue
        if self.search_fields:
            found, duplicates = super().get_search_results(request, queryset, search_term)
            return queryset.filter(exact) | found, duplicates
        return queryset.filter(exact), False


def render_json(value: Any) -> SafeString:
    """A JSON object as a definition list (nested values as indented JSON), HTML-escaped."""
    if not value:
        return format_html("<span>{}</span>", "—")
    if not isinstance(value, dict):
        return _pre(value)
    return format_html(
        '<dl class="emgsonar-json">{}</dl>',
        format_html_join(
            "",
            "<dt><strong>{}</strong></dt><dd>{}</dd>",
            ((key, _scalar_or_pre(item)) for key, item in value.items()),
        ),
    )


def _scalar_or_pre(value: Any) -> SafeString | str:
    if isinstance(value, (dict, list)):
        return _pre(value)
    return "—" if value is None else str(value)


def _pre(value: Any) -> SafeString:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return format_html(
        '<pre style="white-space: pre-wrap; max-height: 30em; overflow: auto">{}</pre>', text
    )
