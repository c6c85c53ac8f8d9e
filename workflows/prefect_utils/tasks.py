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

A user's mistake (an :class:`~emgsonar.errors.EmgsonarError`: not a FASTA, a truncated archive,
a bad date, an unknown reference, a missing file) ends the task run and the flow run as a
``Failed`` state whose message is the error's, with no traceback in the logs or the dashboard;
the flow's caller still gets the error raised (the commands print it as one line). Any other
exception is a bug and is raised as Prefect does, with its traceback.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import close_old_connections, connection
from prefect import Task
from prefect import flow as prefect_flow
from prefect.context import FlowRunContext, TaskRunContext
from prefect.states import Failed, State

from emgsonar.errors import EmgsonarError

F = TypeVar("F", bound=Callable[..., Any])


def close_stale_connections() -> None:
    """Close this thread's DB connection if it is obsolete or broken, unless in a transaction."""
    if not connection.in_atomic_block:
        close_old_connections()


def user_error_state(exc: EmgsonarError) -> State:
    """The ``Failed`` state a run ends in for a user's mistake: the error's message, no
    traceback; the error itself is the state's data, so whoever waits on the run gets it raised.
    """
    return Failed(message=str(exc), data=exc)


def _is_own_run(wrapper: Callable[..., Any]) -> bool:
    """True when ``wrapper`` runs as the body of the current task run or flow run (not called
    through ``.fn`` by a test or by another task's body)."""
    task_run = TaskRunContext.get()
    if task_run is not None:
        return task_run.task.fn is wrapper
    flow_run = FlowRunContext.get()
    return flow_run is not None and flow_run.flow.fn is wrapper


def with_fresh_connections(fn: F) -> F:
    """Wrap ``fn`` so that stale DB connections are closed before and after it runs, and a user
    error raised while it runs as a task or flow run ends that run as :func:`user_error_state`.

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
        except EmgsonarError as exc:
            if not _is_own_run(wrapper):
                raise
            return user_error_state(exc)
        finally:
            close_stale_connections()

    return wrapper  # type: ignore[return-value]


class UserErrorTask(Task):
    """A Prefect task whose call raises the user error its run failed with.

    A task body that returns a ``Failed`` state (see :func:`with_fresh_connections`) ends its run
    without a traceback, but Prefect then hands that state to the caller as the call's value; this
    raises the error instead, so the flow stops there (and ends ``Failed`` with the message).
    """

    def __call__(self, *args: Any, return_state: bool = False, **kwargs: Any) -> Any:
        result = super().__call__(*args, return_state=return_state, **kwargs)
        if not return_state and isinstance(result, State) and result.is_failed():
            result.result(raise_on_failure=True)  # raises the run's error
        return result


class _NoEmptyExcInfo(logging.Filter):
    """Drop a record's ``exc_info`` when no exception was being handled.

    Prefect logs a task run that returned a ``Failed`` state with ``exc_info=True`` outside any
    ``except``, which prints a bare ``NoneType: None`` under the message.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.exc_info, tuple) and record.exc_info[0] is None:
            record.exc_info = None
        return True


logging.getLogger("prefect.task_runs").addFilter(_NoEmptyExcInfo())


def django_task(fn: F | None = None, /, **task_kwargs: Any) -> Any:
    """Prefect ``@task`` whose body runs between two :func:`close_stale_connections` calls and
    whose user errors end the run as :func:`user_error_state`.

    Usable bare (``@django_task``) or with Prefect's task options
    (``@django_task(retries=3, retry_delay_seconds=[2, 5, 15])``).
    """
    if fn is None:
        return lambda f: UserErrorTask(fn=with_fresh_connections(f), **task_kwargs)
    return UserErrorTask(fn=with_fresh_connections(fn), **task_kwargs)


def django_flow(fn: F | None = None, /, **flow_kwargs: Any) -> Any:
    """Prefect ``@flow`` whose body runs between two :func:`close_stale_connections` calls and
    whose user errors end the run as :func:`user_error_state` (the caller gets the error raised).
    """
    if fn is None:
        return lambda f: prefect_flow(with_fresh_connections(f), **flow_kwargs)
    return prefect_flow(with_fresh_connections(fn), **flow_kwargs)
