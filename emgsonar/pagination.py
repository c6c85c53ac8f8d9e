"""Sonar's two pagination styles in one Ninja pagination class.

``limit``/``offset`` (default limit 100) and ``page``/``page_size`` (default 20 when ``page`` is
given); the response is DRF's ``{"count", "next", "previous", "results"}`` with absolute URLs.
"""

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Field, Schema
from ninja.pagination import PaginationBase

#: bounds of the pagination parameters: beyond them a client gets a 422 naming the parameter,
#: never a database overflow (Postgres OFFSET/LIMIT are bigint); deeper pages need filters
MAX_OFFSET = 1_000_000_000
MAX_PAGE = 10_000_000
MAX_ROWS = 2_147_483_647


def _url_with(request: HttpRequest, **params: int) -> str:
    """The current URL with some query parameters replaced."""
    query = request.GET.copy()
    for key, value in params.items():
        query[key] = str(value)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


class PageWindow(Schema):
    """A resolved page: how many rows to skip and how many to show."""

    offset: int
    limit: int
    by_page: bool
    page: int = 1


def resolve_window(
    limit: int | None, offset: int | None, page: int | None, page_size: int | None
) -> PageWindow:
    """Turn either pagination style into an offset/limit window, capped by the config."""
    api_config = settings.EMGSONAR_CONFIG.api
    if page is not None or page_size is not None:
        size = min(page_size or api_config.default_page_size, api_config.max_limit)
        number = max(page or 1, 1)
        return PageWindow(offset=(number - 1) * size, limit=size, by_page=True, page=number)
    size = min(limit if limit is not None else api_config.default_limit, api_config.max_limit)
    return PageWindow(offset=max(offset or 0, 0), limit=max(size, 0), by_page=False)


def page_links(
    request: HttpRequest, window: PageWindow, count: int
) -> tuple[str | None, str | None]:
    """DRF-style ``next``/``previous`` URLs for a window over ``count`` rows."""
    has_next = window.offset + window.limit < count
    has_previous = window.offset > 0
    if window.by_page:
        nxt = _url_with(request, page=window.page + 1) if has_next else None
        prev = _url_with(request, page=window.page - 1) if has_previous else None
    else:
        nxt = (
            _url_with(request, limit=window.limit, offset=window.offset + window.limit)
            if has_next
            else None
        )
        prev = (
            _url_with(request, limit=window.limit, offset=max(window.offset - window.limit, 0))
            if has_previous
            else None
        )
    return nxt, prev


class SonarPagination(PaginationBase):
    """``limit``/``offset`` or ``page``/``page_size``, answered as count/next/previous/results."""

    class Input(Schema):
        limit: int | None = Field(
            None, ge=0, le=MAX_ROWS, description="Rows per response (default 100)"
        )
        offset: int | None = Field(None, ge=0, le=MAX_OFFSET, description="Rows to skip")
        page: int | None = Field(None, ge=1, le=MAX_PAGE, description="Page number (page style)")
        page_size: int | None = Field(
            None, ge=1, le=MAX_ROWS, description="Rows per page (default 20)"
        )

    class Output(Schema):
        count: int
        next: str | None
        previous: str | None
        results: list[Any]

    items_attribute: str = "results"

    def paginate_queryset(self, queryset: Any, pagination: Input, **params: Any) -> dict:
        request: HttpRequest = params["request"]
        window = resolve_window(
            pagination.limit, pagination.offset, pagination.page, pagination.page_size
        )
        count = queryset.count() if hasattr(queryset, "count") else len(queryset)
        nxt, prev = page_links(request, window, count)
        return {
            "count": count,
            "next": nxt,
            "previous": prev,
            "results": list(queryset[window.offset : window.offset + window.limit]),
        }
