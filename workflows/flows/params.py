"""Parameter models of the import flows that other layers (API, commands) share.

Kept apart from the flow modules so that the API can validate a request body without importing
a flow's tasks; the flow signature uses the same class, so the dashboard form, the CLI flags and
``POST /api/imports/`` can never disagree.
"""

import functools
import inspect
import types
import typing
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.fields import FieldInfo

from emgsonar.config import Executor
from emgsonar.errors import EmgsonarError

F = TypeVar("F", bound=Callable[..., Any])


def form_annotation(annotation: Any, metadata: Sequence[Any] = ()) -> Any:
    """``X | None`` as a form shows it: validated as ``X | None``, described as plain ``X``
    (with the field's constraints ``metadata``, e.g. ``ge=1``, in the description).

    The dashboard renders a ``null`` branch of a JSON schema as a second input with the note
    "Property is type 'None'"; leaving a field empty already means None (its default).
    """
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        shown = Annotated[(inner, *metadata)] if metadata else inner
        return Annotated[annotation, WithJsonSchema(TypeAdapter(shown).json_schema())]
    return Annotated[(annotation, *metadata)] if metadata else annotation


def flow_kwargs(params: BaseModel) -> dict[str, Any]:
    """The keyword arguments of a flow decorated with :func:`flat_parameters` for ``params``
    (JSON values, unset optional fields left out): for in-process calls and deployments."""
    return params.model_dump(mode="json", exclude_none=True)


def _value(value: Any) -> Any:
    return value.get_default(call_default_factory=True) if isinstance(value, FieldInfo) else value


def flat_parameters(model: type[BaseModel]) -> Callable[[F], F]:
    """Give a flow ``fn(params: model, **more)`` one keyword parameter per field of ``model``.

    Why: Prefect renders a flow's signature as the deployment's run form and as what
    ``prefect deployment run -p NAME=VALUE`` accepts; a single model parameter shows up as one
    nested ``params`` object. Each field keeps its type, default and description (so the form
    has typed inputs with help text); the function still receives the validated model, so the
    API, the commands and the form share one definition of the parameters. A combination the
    model refuses (e.g. neither FASTA nor metadata) fails the run as a user error.
    """

    def decorate(fn: F) -> F:
        hints = typing.get_type_hints(fn, include_extras=True)
        signature = inspect.signature(fn)
        fields = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=form_annotation(info.annotation, info.metadata),
                default=Field(
                    default=info.get_default(call_default_factory=True)
                    if not info.is_required()
                    else ...,
                    description=info.description,
                ),
            )
            for name, info in model.model_fields.items()
        ]
        more = [
            param.replace(
                kind=inspect.Parameter.KEYWORD_ONLY,
                annotation=form_annotation(hints.get(name, param.annotation)),
            )
            for name, param in signature.parameters.items()
            if name != "params"
        ]

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            values = {k: _value(kwargs.pop(k)) for k in model.model_fields if k in kwargs}
            for param in more:  # a Field(...) default is its default's value
                kwargs[param.name] = _value(kwargs.get(param.name, param.default))
            try:
                params = model(**values)
            except ValidationError as exc:
                raise EmgsonarError(f"invalid parameters: {exc}") from exc
            return fn(params, **kwargs)

        wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*fields, *more], return_annotation=signature.return_annotation
        )
        return wrapper  # type: ignore[return-value]

    return decorate


class ImportSamplesParams(BaseModel):
    """Parameters of a sample import (rendered as the run form in the Prefect dashboard)."""

    model_config = ConfigDict(extra="forbid")

    reference: str = Field(
        min_length=1, description="accession of an imported reference, e.g. MN908947.3"
    )
    fasta: str | None = Field(
        default=None,
        description="genomes: local path, http(s) URL or ena:ACC1,ACC2; plain, gz, xz, zst or zip",
    )
    fasta_sha256: str | None = Field(
        default=None, description="expected SHA-256 of the FASTA file as stored (optional)"
    )
    metadata: str | None = Field(
        default=None, description="metadata table (TSV/CSV), one row per sample; path or URL"
    )
    metadata_sha256: str | None = Field(default=None, description="expected SHA-256 (optional)")
    cols: dict[str, str] = Field(
        default_factory=dict,
        description='property → metadata column, e.g. {"name": "IMS_ID"}',
    )
    auto_link: bool = Field(
        default=False,
        description="also map columns named like a sample field or a declared property",
    )
    skip_invalid_rows: bool = Field(
        default=False,
        description="leave out metadata rows with bad values (listed in the summary) "
        "instead of refusing the whole file",
    )
    executor: Executor | None = Field(
        default=None,
        description="where chunks are aligned: local processes or Slurm jobs "
        "(default: EMGSONAR_IMPORTS__EXECUTOR)",
    )
    chunk_size: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="sequences per chunk / cluster job (default: EMGSONAR_IMPORTS__CHUNK_SIZE)",
    )
    confirm_replace: bool = Field(
        default=False,
        description="replace the sequences of existing samples without asking "
        "(otherwise the run pauses for the operator's confirmation)",
    )

    @model_validator(mode="after")
    def _something_to_import(self) -> "ImportSamplesParams":
        if not self.fasta and not self.metadata:
            raise ValueError("give a FASTA file (fasta), a metadata table (metadata), or both")
        return self
