"""The one error hierarchy of emgsonar.

Framework-free on purpose: the calling core, management commands, flows and the API all raise
these, and each edge decides how to show them (CLI: ``ERROR: ...`` and exit 2; API: 4xx JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


@dataclass(eq=False)
class EmgsonarError(Exception):
    """Base of every error a user can cause and fix.

    Rendered as ``"<file>: record '<id>', position <n>: <problem>. <how to fix>"``, leaving out
    the parts that are unknown, so the message names exactly what is wrong and where.

    :param problem: what is wrong, as a sentence fragment without final full stop.
    :param path: the file the problem is in, if any.
    :param record_id: the record (FASTA/GenBank record, metadata row name) concerned.
    :param position: 1-based position in the record or line number in the file.
    :param value: the offending value, when it helps.
    :param hint: how to fix it.
    """

    problem: str
    path: Path | str | None = None
    record_id: str | None = None
    position: int | None = None
    value: object = None
    hint: str | None = None
    #: machine-readable error code, sent to API clients next to the message
    code: ClassVar[str] = "invalid_input"

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.path is not None:
            where.append(str(self.path))
        located = []
        if self.record_id is not None:
            located.append(f"record '{self.record_id}'")
        if self.position is not None:
            located.append(f"position {self.position}")
        if located:
            where.append(", ".join(located))
        text = ": ".join([*where, self.problem]) if where else self.problem
        if self.value is not None:
            text += f" (got {self.value!r})"
        text += "."
        if self.hint:
            text += f" {self.hint.rstrip('.')}."
        return text


class InputFormatError(EmgsonarError):
    """A file is not in the format it should be (not FASTA, not GenBank, truncated archive)."""


class ReferenceDataError(EmgsonarError):
    """A reference is inconsistent (translation mismatch, accession clash, unknown accession)."""


class NotFoundError(EmgsonarError):
    """Something named by the user does not exist (reference, property, lineage, sample)."""

    code: ClassVar[str] = "not_found"


class ConflictError(EmgsonarError):
    """The request contradicts what is stored (different reference under an existing accession)."""

    code: ClassVar[str] = "conflict"


class AuthenticationRequiredError(EmgsonarError):
    """The request needs an authenticated user (token or session) and has none."""

    code: ClassVar[str] = "not_authenticated"


class InvalidTokenError(AuthenticationRequiredError):
    """The request presents an API token that no active user owns (mistyped, revoked)."""

    code: ClassVar[str] = "invalid_token"


class ServiceUnavailableError(EmgsonarError):
    """A service emgsonar needs is down or not set up (the Prefect server, a deployment)."""

    code: ClassVar[str] = "service_unavailable"


class PermissionDeniedError(EmgsonarError):
    """The authenticated user lacks the Django permission the operation needs."""

    code: ClassVar[str] = "permission_denied"
