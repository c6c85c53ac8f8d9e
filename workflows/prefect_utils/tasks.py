"""``@flow`` and ``@task`` for code that uses the Django ORM.

A flow run can sit for hours waiting on cluster jobs or on an operator's confirmation; by then
Postgres (or a proxy) may have dropped the connection Django keeps in the thread, and the next
query fails with "server closed the connection unexpectedly". These wrappers call
:func:`django.db.close_old_connections` before and after every flow and task body, so each step
starts with a usable connection and leaves none behind when a worker thread ends. The wrapped
function keeps its signature (``functools.wraps``), so Prefect still sees the real parameters
and renders parameter models as a form.

Inside a transaction (``atomic`` block, e.g. a pytest-django test that is not transactional)
the connection is left alone: closing it would abort the transaction.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import close_old_connections, connection
from prefect import flow as prefect_flow
from prefect import task as prefect_task

F = TypeVar("F", bound=Callable[..., Any])


def close_stale_connections() -> None:
    """Close this thread's DB connection if it is obsolete or broken, unless in a transaction."""
    if not connection.in_atomic_block:
        close_old_connections()


def with_fresh_connections(fn: F) -> F:
    """Wrap ``fn`` so that stale DB connections are closed before and after it runs.

    :param fn: a synchronous function (flows and tasks of emgsonar are synchronous: the ORM is).
    :returns: a function with the same name, docstring and signature.
    """
    if inspect.iscoroutinefunction(fn):
        raise TypeError(f"{fn.__qualname__}: ORM flows and tasks must be synchronous")

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        close_stale_connections()
        try:
            return fn(*args, **kwargs)
        finally:
            close_stale_connections()

    return wrapper  # type: ignore[return-value]


def django_task(fn: F | None = None, /, **task_kwargs: Any) -> Any:
    """Prefect ``@task`` whose body runs between two :func:`close_stale_connections` calls.

    Usable bare (``@django_task``) or with Prefect's task options
    (``@django_task(retries=3, retry_delay_seconds=[2, 5, 15])``).
    """
    if fn is None:
        return lambda f: prefect_task(with_fresh_connections(f), **task_kwargs)
    return prefect_task(with_fresh_connections(fn), **task_kwargs)


def django_flow(fn: F | None = None, /, **flow_kwargs: Any) -> Any:
    """Prefect ``@flow`` whose body runs between two :func:`close_stale_connections` calls."""
    if fn is None:
        return lambda f: prefect_flow(with_fresh_connections(f), **flow_kwargs)
    return prefect_flow(with_fresh_connections(fn), **flow_kwargs)
