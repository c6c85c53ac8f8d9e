"""Parse sonar's ``filters`` JSON into a typed tree.

Shape (api.md): ``{"label": ..., <fields>, "andFilter": [...], "orFilter": [...]}``, meaning
(own condition AND every andFilter item) OR each orFilter item; items nest the same way. Each
condition is validated by the pydantic model of its label, so a wrong field type is reported
here, before any database work. Unknown keys in an item are ignored, as sonar does (frontends
send UI state along); unknown *labels* are an error.
"""

import ast
import json
import re
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from ena_like.filters.errors import FilterError, UnknownLabelError

FilterType = Literal[
    "exact",
    "iexact",
    "contains",
    "icontains",
    "gt",
    "gte",
    "lt",
    "lte",
    "range",
    "in",
    "isnull",
    "regex",
    # the rest of the operators sonar's frontend offers for untyped properties (Django's)
    "iregex",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
]


class Condition(BaseModel):
    """One leaf condition; ``exclude`` negates it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    exclude: bool = False


class ProfileCondition(Condition):
    """``DNA/AA Profile``: mutations separated by comma/space/semicolon, all required."""

    label: Literal["DNA/AA Profile"] = "DNA/AA Profile"
    value: str

    def mutations(self) -> list[str]:
        return [m for m in re.split(r"[,;\s]+", self.value.strip(",; \t\r\n")) if m]


class MutationCondition(Condition):
    """``SNP Nt`` … ``Ins AA``: one mutation, as a string or sonar's split fields."""

    label: Literal["SNP Nt", "SNP AA", "Del Nt", "Del AA", "Ins Nt", "Ins AA"]
    value: str | None = None
    ref_nuc: str | None = None
    alt_nuc: str | None = None
    ref_aa: str | None = None
    alt_aa: str | None = None
    ref_pos: int | None = None
    first_deleted: int | None = None
    last_deleted: int | None = None
    protein_symbol: str | None = None
    gene_symbol: str | None = None
    replicon_accession: str | None = None

    def mutation(self) -> str:
        """The mutation as a label string (built from the split fields when needed)."""
        if self.value and self.value.strip():
            return self.value.strip()
        gene = self.protein_symbol or self.gene_symbol
        prefix = f"{self.replicon_accession}:" if self.replicon_accession else ""
        if gene:
            prefix += f"{gene}:"
        try:
            if self.label.startswith("Del"):
                first = int(self.first_deleted)  # type: ignore[arg-type]
                last = self.last_deleted or first
                span = f"{first}" if last == first else f"{first}-{last}"
                return f"{prefix}del:{span}"
            if self.label.endswith("Nt"):
                return f"{prefix}{self.ref_nuc}{int(self.ref_pos)}{self.alt_nuc}"  # type: ignore[arg-type]
            return f"{prefix}{self.ref_aa}{int(self.ref_pos)}{self.alt_aa}"  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise FilterError(
                f"'{self.label}' needs 'value' (e.g. A23403G, S:D614G, del:69-70) or the "
                "split fields (ref_nuc/ref_pos/alt_nuc, first_deleted/last_deleted, …)"
            ) from None


class PropertyCondition(Condition):
    """``Property``: a fixed sample column or a custom property compared with ``filter_type``."""

    label: Literal["Property"] = "Property"
    property_name: str
    filter_type: FilterType = "exact"
    value: Any = None


class LineageCondition(Condition):
    """``Lineages``/``Lineage``: lineage in the set, optionally with all descendants."""

    label: Literal["Lineages", "Lineage"] = "Lineages"
    lineage_list: list[str] = Field(alias="lineageList")
    include_sublineages: bool = Field(True, alias="includeSublineages")

    @field_validator("lineage_list", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value


class SampleCondition(Condition):
    """``Sample``: sample names, as a list or sonar's ``"['a','b']"`` string."""

    label: Literal["Sample"] = "Sample"
    value: list[str]

    @field_validator("value", mode="before")
    @classmethod
    def _literal(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return [str(v) for v in ast.literal_eval(text)]
                except (ValueError, SyntaxError):
                    raise ValueError("not a list of sample names") from None
            return [v.strip() for v in text.split(",") if v.strip()]
        return value


class RepliconCondition(Condition):
    """``Replicon``: samples with an alignment to that replicon."""

    label: Literal["Replicon"] = "Replicon"
    accession: str = Field(validation_alias=AliasChoices("replicon_accession", "accession"))


class ReferenceCondition(Condition):
    """``Reference``: samples of that reference."""

    label: Literal["Reference"] = "Reference"
    accession: str


class AnnotationCondition(Condition):
    """``Annotation``: samples carrying a nucleotide mutation with that effect."""

    label: Literal["Annotation"] = "Annotation"
    property_name: Literal["seq_ontology", "impact"]
    filter_type: FilterType = "exact"
    value: Any = None


AnyCondition = (
    ProfileCondition
    | MutationCondition
    | PropertyCondition
    | LineageCondition
    | SampleCondition
    | RepliconCondition
    | ReferenceCondition
    | AnnotationCondition
)

_MODELS: dict[str, type[Condition]] = {
    "DNA/AA Profile": ProfileCondition,
    "SNP Nt": MutationCondition,
    "SNP AA": MutationCondition,
    "Del Nt": MutationCondition,
    "Del AA": MutationCondition,
    "Ins Nt": MutationCondition,
    "Ins AA": MutationCondition,
    "Property": PropertyCondition,
    "Lineages": LineageCondition,
    "Lineage": LineageCondition,
    "Sample": SampleCondition,
    "Replicon": RepliconCondition,
    "Reference": ReferenceCondition,
    "Annotation": AnnotationCondition,
}

LABELS = tuple(_MODELS)


class FilterNode(BaseModel):
    """(``condition`` AND every ``and_`` node) OR each ``or_`` node."""

    condition: AnyCondition | None = None
    and_: list["FilterNode"] = []
    or_: list["FilterNode"] = []

    def is_empty(self) -> bool:
        return self.condition is None and not self.and_ and not self.or_


def _condition(item: dict, path: str) -> Condition:
    label = item.get("label")
    model = _MODELS.get(label) if isinstance(label, str) else None
    if model is None:
        raise UnknownLabelError(
            f"{path}: unknown filter label",
            value=label,
            hint=f"Use one of {', '.join(LABELS)}",
        )
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
        )
        raise FilterError(f"{path}: invalid '{label}' filter ({problems})") from None


def _node(raw: Any, path: str) -> FilterNode:
    if not isinstance(raw, dict):
        raise FilterError(f"{path}: a filter must be a JSON object", value=raw)
    node = FilterNode()
    if raw.get("label") not in (None, ""):
        node.condition = _condition(raw, path)  # type: ignore[assignment]
    for key, target in (("andFilter", node.and_), ("orFilter", node.or_)):
        items = raw.get(key) or []
        if not isinstance(items, list):
            raise FilterError(f"{path}.{key} must be a list", value=items)
        target.extend(_node(item, f"{path}.{key}[{i}]") for i, item in enumerate(items))
    return node


def parse_filters(text: str | dict | None) -> FilterNode:
    """Parse the ``filters`` parameter (JSON text or an already decoded object).

    :raises FilterError: malformed JSON, wrong shape, unknown label or invalid field, each
        naming where in the filter the problem is.
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        return FilterNode()
    if isinstance(text, str):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FilterError(
                f"'filters' is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
                hint='Send e.g. {"andFilter": [{"label": "SNP Nt", "value": "A23403G"}]}',
            ) from None
    else:
        raw = text
    return _node(raw, "filters")
