"""Parse sonar's ``filters`` JSON into a typed tree.

Shape (api.md): ``{"label": ..., <keys>, "andFilter": [...], "orFilter": [...]}``, meaning
(own condition AND every andFilter item) OR each orFilter item; items nest the same way. Each
condition is validated by the pydantic model of its label, and those models are the one table
of what a label takes (:data:`LABEL_KEYS`, :func:`filter_json_schema`): a key the label does not
take is an error naming it and the keys it does take, because an ignored typo (``"excluded"``,
``"andFliter"``) silently widens the answer to every sample. The keys sonar's frontend and CLI
send (UI state like ``isVisible`` too) are fields of the models, so they keep working.
"""

import ast
import difflib
import json
import re
from itertools import combinations
from typing import Any, ClassVar, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ena_like.filters.errors import FilterError, UnknownKeyError, UnknownLabelError

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

#: the keys that nest items; every item may carry them, with or without a label
GROUP_KEYS = ("andFilter", "orFilter")


def _wire_keys(field_name: str, info: Any) -> tuple[str, ...]:
    """The JSON keys a model field is read from (its alias choices, alias or name)."""
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(c for c in alias.choices if isinstance(c, str))
    if isinstance(alias, str):
        return (alias,)
    return (info.alias or field_name,)


def _document_alternatives(schema: dict[str, Any], model: type["Condition"]) -> None:
    """JSON Schema of a condition: every alias choice is a property (pydantic shows only the
    first), at most one of them given (one required if the field is); and the
    ``value``-or-split-keys rule of mutation labels."""
    rules: list[dict[str, Any]] = []
    properties = schema.setdefault("properties", {})
    required = schema.setdefault("required", [])
    for name, info in model.model_fields.items():
        keys = _wire_keys(name, info)
        if len(keys) > 1:
            first = properties[keys[0]]
            for key in keys[1:]:
                properties[key] = first
            rules.extend({"not": {"required": list(pair)}} for pair in combinations(keys, 2))
            if keys[0] in required:
                required.remove(keys[0])
                rules.append({"anyOf": [{"required": [k]} for k in keys]})
    if model.SPLIT_KEYS:
        given = {"not": {"enum": [None, ""]}}
        rules.append(
            {
                "anyOf": [
                    {
                        "required": ["value"],
                        "properties": {"value": {"type": "string", "pattern": r"\S"}},
                    },
                    {
                        "required": list(model.SPLIT_KEYS),
                        "properties": dict.fromkeys(model.SPLIT_KEYS, given),
                    },
                ]
            }
        )
    if rules:
        schema["allOf"] = rules
    if not required:
        schema.pop("required")


class Condition(BaseModel):
    """One leaf condition; ``exclude`` negates it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_document_alternatives)

    #: keys that together stand in for ``value`` (sonar's split mutation fields), all needed
    SPLIT_KEYS: ClassVar[tuple[str, ...]] = ()

    exclude: bool = Field(False, description="Negate the condition")

    @model_validator(mode="before")
    @classmethod
    def _one_alias(cls, data: Any) -> Any:
        """Two spellings of one key (``lineageList`` and ``value``) would be ambiguous."""
        if isinstance(data, dict):
            for name, info in cls.model_fields.items():
                given = [k for k in _wire_keys(name, info) if k in data]
                if len(given) > 1:
                    raise ValueError(f"give one of {', '.join(given)}, not both")
        return data


class ProfileCondition(Condition):
    """``DNA/AA Profile``: mutations separated by comma/space/semicolon, all required."""

    label: Literal["DNA/AA Profile"]
    value: str = Field(description="Mutations, e.g. 'S:D614G A23403G del:21765-21770'")

    def mutations(self) -> list[str]:
        return [m for m in re.split(r"[,;\s]+", self.value.strip(",; \t\r\n")) if m]


class MutationCondition(Condition):
    """``SNP Nt`` … ``Ins AA``: one mutation, as a label string or sonar's split keys."""

    label: str
    value: str | None = Field(None, description="The mutation, e.g. A23403G, S:D614G, del:69-70")
    replicon_accession: str | None = Field(None, description="Replicon of the mutation")

    def mutation(self) -> str:
        """The mutation as a label string (built from the split keys when needed)."""
        if self.value and self.value.strip():
            return self.value.strip()
        missing = [k for k in self.SPLIT_KEYS if getattr(self, k) in (None, "")]
        if missing:
            raise FilterError(
                f"'{self.label}' needs 'value' (e.g. A23403G, S:D614G, del:69-70) or "
                f"{', '.join(self.SPLIT_KEYS)} (missing: {', '.join(missing)})"
            )
        gene = getattr(self, "protein_symbol", None)
        prefix = f"{self.replicon_accession}:" if self.replicon_accession else ""
        if gene:
            prefix += f"{gene}:"
        return prefix + self._body()

    def _body(self) -> str:
        raise NotImplementedError


class _GeneKey(BaseModel):
    protein_symbol: str | None = Field(
        None,
        validation_alias=AliasChoices("protein_symbol", "gene_symbol"),
        description="Gene or CDS symbol",
    )


class _SubstitutionNt(MutationCondition):
    SPLIT_KEYS: ClassVar[tuple[str, ...]] = ("ref_nuc", "ref_pos", "alt_nuc")
    ref_nuc: str | None = None
    ref_pos: int | None = Field(None, description="1-based position")
    alt_nuc: str | None = None

    def _body(self) -> str:
        return f"{self.ref_nuc}{self.ref_pos}{self.alt_nuc}"


class _SubstitutionAa(MutationCondition, _GeneKey):
    SPLIT_KEYS: ClassVar[tuple[str, ...]] = ("protein_symbol", "ref_aa", "ref_pos", "alt_aa")
    ref_aa: str | None = None
    ref_pos: int | None = Field(None, description="1-based position")
    alt_aa: str | None = None

    def _body(self) -> str:
        return f"{self.ref_aa}{self.ref_pos}{self.alt_aa}"


class _Deletion(MutationCondition):
    SPLIT_KEYS: ClassVar[tuple[str, ...]] = ("first_deleted",)
    first_deleted: int | None = Field(None, description="1-based first deleted position")
    last_deleted: int | None = Field(None, description="1-based last deleted position")

    def _body(self) -> str:
        last = self.last_deleted or self.first_deleted
        return f"del:{self.first_deleted}" + ("" if last == self.first_deleted else f"-{last}")


class SnpNtCondition(_SubstitutionNt):
    label: Literal["SNP Nt"]


class InsNtCondition(_SubstitutionNt):
    label: Literal["Ins Nt"]


class SnpAaCondition(_SubstitutionAa):
    label: Literal["SNP AA"]


class InsAaCondition(_SubstitutionAa):
    label: Literal["Ins AA"]


class DelNtCondition(_Deletion):
    label: Literal["Del Nt"]


class DelAaCondition(_Deletion, _GeneKey):
    SPLIT_KEYS: ClassVar[tuple[str, ...]] = ("protein_symbol", "first_deleted")
    label: Literal["Del AA"]


class PropertyCondition(Condition):
    """``Property``: a fixed sample column or a custom property compared with ``filter_type``."""

    label: Literal["Property"]
    property_name: str = Field(description="Sample column or custom property")
    filter_type: FilterType = "exact"
    value: Any = Field(None, description="Compared value; 'in'/'range' take a list or 'a,b'")


class LineageCondition(Condition):
    """``Lineages``/``Lineage``: lineage in the set, optionally with all descendants."""

    label: Literal["Lineages", "Lineage"]
    lineage_list: list[str] = Field(
        validation_alias=AliasChoices("lineageList", "value"),
        description="Lineage names (a list or 'a,b')",
    )
    include_sublineages: bool = Field(True, alias="includeSublineages")
    is_visible: bool = Field(
        True, alias="isVisible", description="sonar's frontend UI state; no effect"
    )

    @field_validator("lineage_list", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value


class SampleCondition(Condition):
    """``Sample``: sample names, as a list or sonar's ``"['a','b']"`` string."""

    label: Literal["Sample"]
    value: list[str] = Field(description="Sample names (a list, \"['a','b']\" or 'a,b')")

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

    label: Literal["Replicon"]
    accession: str = Field(validation_alias=AliasChoices("replicon_accession", "accession"))


class ReferenceCondition(Condition):
    """``Reference``: samples of that reference."""

    label: Literal["Reference"]
    accession: str


class AnnotationCondition(Condition):
    """``Annotation``: samples carrying a nucleotide mutation with that effect."""

    label: Literal["Annotation"]
    property_name: Literal["seq_ontology", "impact"]
    filter_type: FilterType = "exact"
    value: Any = Field(None, description="e.g. missense_variant, HIGH")


class NOfCondition(Condition):
    """``N-of``: at least ``n`` of the ``items`` hold (exactly ``n`` with ``exactly``); the
    query language's ``[2-of: S:F456L, S:L455S, S:Q493E]``. Items are filter items like those of
    ``andFilter`` (conditions or groups); ``n`` above their number matches no sample."""

    label: Literal["N-of"]
    n: int = Field(ge=0, le=10_000, description="How many of the items must hold")
    exactly: bool = Field(False, description="Exactly n, not at least n")
    items: list[dict[str, Any]] = Field(
        min_length=1, max_length=10_000, description="Filter items (labelled or groups)"
    )
    #: the items as tree nodes (set by the parser, :func:`_condition`)
    _nodes: list["FilterNode"] = PrivateAttr(default_factory=list)

    @property
    def nodes(self) -> list["FilterNode"]:
        return self._nodes


class MaybeCondition(Condition):
    """``Maybe``: samples carrying the mutation *or* without data anywhere in its span (N/X
    there, or outside the covered range, or no alignment to its replicon); the query
    language's ``MAYBE(S:F456L)``. Substitutions and deletions."""

    label: Literal["Maybe"]
    value: str = Field(description="One mutation, e.g. S:F456L, C241T, del:21765-21770")


#: ``ins_22204:?GAG?``, ``ins_S:214:EPE``, ``ins_NC_026433.1:HA:5:?K?`` (LAPIS' notation)
_INSERTION_PATTERN = re.compile(r"^ins_(?:([^:\s]+):)?(?:([^:\s]+):)?(\d+):([A-Za-z*?]+)$", re.I)


class InsertionPattern(BaseModel):
    """A parsed insertion pattern: after 1-based ``position`` (0 = before the first base or
    residue) of the replicon/CDS, inserted bases matching ``pattern`` as a whole, ``?`` standing
    for any run of bases (also none)."""

    prefixes: tuple[str, ...]
    position: int
    pattern: str

    def regex(self) -> str:
        """The whole inserted sequence, case-insensitively: ``?GAG?`` → ``^.*GAG.*$``."""
        return "^" + "".join(".*" if c == "?" else re.escape(c) for c in self.pattern) + "$"


def parse_insertion_pattern(text: str) -> InsertionPattern:
    """:raises ValueError: not ``ins_[prefix:]position:pattern``, saying what it should be."""
    match = _INSERTION_PATTERN.match(text.strip())
    if match is None:
        raise ValueError(
            "an insertion pattern is ins_<position>:<bases> (ins_22204:?GAG?, ? = any bases), "
            "ins_<gene>:<position>:<residues> or ins_<replicon>:[<gene>:]<position>:<bases>"
        )
    first, second, position, pattern = match.groups()
    prefixes = tuple(p for p in (first, second) if p)
    return InsertionPattern(prefixes=prefixes, position=int(position), pattern=pattern.upper())


class InsertionPatternCondition(Condition):
    """``Insertion pattern``: samples with an insertion at that position whose inserted
    sequence matches the pattern (``?`` = any run); the query language's ``ins_22204:?GAG?``."""

    label: Literal["Insertion pattern"]
    value: str = Field(description="e.g. ins_22204:?GAG?, ins_S:214:EPE (? = any run)")

    @field_validator("value")
    @classmethod
    def _pattern(cls, value: str) -> str:
        parse_insertion_pattern(value)
        return value.strip()

    def parsed(self) -> InsertionPattern:
        return parse_insertion_pattern(self.value)


CONDITIONS: tuple[type[Condition], ...] = (
    ProfileCondition,
    SnpNtCondition,
    SnpAaCondition,
    DelNtCondition,
    DelAaCondition,
    InsNtCondition,
    InsAaCondition,
    PropertyCondition,
    LineageCondition,
    SampleCondition,
    RepliconCondition,
    ReferenceCondition,
    AnnotationCondition,
    NOfCondition,
    MaybeCondition,
    InsertionPatternCondition,
)

#: label → the model that reads it (read from the models' ``label`` literals)
_MODELS: dict[str, type[Condition]] = {
    label: model
    for model in CONDITIONS
    for label in model.model_fields["label"].annotation.__args__  # type: ignore[union-attr]
}

LABELS = tuple(_MODELS)


#: label → every key an item with that label may carry (the table the 400s name)
def _keys(model: type[Condition]) -> tuple[str, ...]:
    """``label``, the label's own keys, ``exclude``, then the nesting keys."""
    own = [k for name, info in model.model_fields.items() for k in _wire_keys(name, info)]
    own.remove("label")
    own.remove("exclude")
    return ("label", *own, "exclude", *GROUP_KEYS)


LABEL_KEYS: dict[str, tuple[str, ...]] = {label: _keys(model) for label, model in _MODELS.items()}

AnyCondition = (
    ProfileCondition
    | MutationCondition
    | PropertyCondition
    | LineageCondition
    | SampleCondition
    | RepliconCondition
    | ReferenceCondition
    | AnnotationCondition
    | NOfCondition
    | MaybeCondition
    | InsertionPatternCondition
)


class FilterNode(BaseModel):
    """(``condition`` AND every ``and_`` node) OR each ``or_`` node."""

    condition: AnyCondition | None = None
    and_: list["FilterNode"] = []
    or_: list["FilterNode"] = []

    def is_empty(self) -> bool:
        return self.condition is None and not self.and_ and not self.or_


def _unknown_key(key: str, accepted: tuple[str, ...], where: str, path: str) -> UnknownKeyError:
    close = difflib.get_close_matches(key, accepted, n=1)
    guess = f"Did you mean '{close[0]}'? " if close else ""
    return UnknownKeyError(
        f"{path}: unknown key '{key}' in {where}",
        hint=f"{guess}{where[0].upper()}{where[1:]} takes {', '.join(accepted)}",
    )


def _condition(item: dict, path: str) -> Condition:
    label = item.get("label")
    model = _MODELS.get(label) if isinstance(label, str) else None
    if model is None:
        close = difflib.get_close_matches(str(label), LABELS, n=1)
        raise UnknownLabelError(
            f"{path}: unknown filter label",
            value=label,
            hint=(f"Did you mean '{close[0]}'? " if close else "")
            + f"Use one of {', '.join(LABELS)}",
        )
    accepted = LABEL_KEYS[label]
    for key in item:
        if key not in accepted:
            raise _unknown_key(key, accepted, f"a '{label}' filter", path)
    try:
        condition = model.model_validate({k: v for k, v in item.items() if k not in GROUP_KEYS})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
        )
        raise FilterError(f"{path}: invalid '{label}' filter ({problems})") from None
    if isinstance(condition, NOfCondition):
        # the items are filter items: parsed (and checked) as strictly as andFilter's
        condition._nodes = [_node(x, f"{path}.items[{i}]") for i, x in enumerate(condition.items)]
    return condition


#: what an item without a label may carry
_GROUP_ONLY = ("label", *GROUP_KEYS)


def _node(raw: Any, path: str) -> FilterNode:
    if not isinstance(raw, dict):
        raise FilterError(f"{path}: a filter must be a JSON object", value=raw)
    node = FilterNode()
    if raw.get("label") not in (None, ""):
        node.condition = _condition(raw, path)  # type: ignore[assignment]
    else:
        for key in raw:
            if key not in _GROUP_ONLY:
                raise _unknown_key(key, _GROUP_ONLY, "a filter group (an item without label)", path)
    for key, target in (("andFilter", node.and_), ("orFilter", node.or_)):
        items = raw.get(key) or []
        if not isinstance(items, list):
            raise FilterError(f"{path}.{key} must be a list", value=items)
        target.extend(_node(item, f"{path}.{key}[{i}]") for i, item in enumerate(items))
    return node


def parse_filters(text: str | dict | None) -> FilterNode:
    """Parse the ``filters`` parameter (JSON text or an already decoded object).

    :raises FilterError: malformed JSON, wrong shape, unknown label, unknown key or invalid
        value, each naming where in the filter the problem is.
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
