"""Input and output schemas of the sample endpoints (sonar's contract, api.md)."""

import datetime as dt
import json
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import AliasChoices, BaseModel, ConfigDict, field_validator, model_validator

from emgsonar.pagination import MAX_OFFSET, MAX_PAGE, MAX_ROWS
from emgsonar.schemas import ErrorOut
from ena_like.filters.errors import FilterError
from ena_like.filters.query_language import QueryText
from ena_like.filters.schema import Filter


class ValidationErrorOut(ErrorOut):
    """422: the message, plus Ninja's structured list of what failed where."""

    errors: list[dict[str, Any]] = []


class ForbidExtra(Schema):
    """Input schema base: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")


# --- query parameters ------------------------------------------------------------------------
class ReferenceParams(ForbidExtra):
    """``reference_accession`` or its alias ``reference`` (surrounding quotes stripped)."""

    reference_accession: str | None = Field(None, description="Accession of the reference")
    reference: str | None = Field(None, description="Alias of reference_accession")

    def accession(self) -> str | None:
        return self.reference_accession or self.reference


class JsonText:
    """Annotation of a parameter that carries JSON text: its JSON Schema gains
    ``contentMediaType``/``contentSchema`` (a ``$ref`` to ``model``, which lands in the OpenAPI
    components), and ``emgsonar.api.EmgsonarAPI`` turns those into the parameter's ``content``, the
    OpenAPI way to say "this query parameter is JSON of that schema"."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        schema = handler(core_schema)
        schema["contentMediaType"] = "application/json"
        schema["contentSchema"] = handler(self.model.__pydantic_core_schema__)
        return schema


class FilterParams(ReferenceParams):
    """A reference and a ``filters`` JSON tree (api.md, Filter items), or the same filter as a
    ``query`` in the query language (api.md, Query language); not both. A query is handed on as
    ``filters`` (a :class:`QueryText`), so whatever reads ``params.filters`` takes it."""

    filters: Annotated[str | None, JsonText(Filter)] = Field(
        None,
        description=(
            "JSON text of a filter (schema Filter): a labelled condition or a group, "
            '{"andFilter": [{"label": "SNP AA", "value": "S:D614G"}], "orFilter": []}; '
            "a key the label does not take is a 400 naming the keys it takes"
        ),
    )
    query: str | None = Field(
        None,
        max_length=100_000,
        description=(
            "The filter in the query language instead of filters (not both), e.g. "
            "'S:N501Y & (S:E484K | !lineage=BA.2*) & country=Germany & "
            "collection_date>=2024-06-01', '[2-of: S:F456L, S:L455S, S:Q493E]', "
            "'MAYBE(S:F456L)', 'ins_22204:?GAG?'; a syntax error is a 400 naming the column"
        ),
    )

    @model_validator(mode="after")
    def _query_as_filters(self) -> "FilterParams":
        """``query`` becomes ``filters``; both is the client's mistake (400, not 422: raised as
        the filter engine's error, which pydantic lets through)."""
        if self.query and self.query.strip():
            if self.filters and self.filters.strip():
                raise FilterError(
                    "both 'filters' and 'query' given",
                    hint="Send one: the filter JSON or the same filter in the query language",
                )
            self.filters = QueryText(self.query)
        return self


class PageParams(ForbidExtra):
    """Both pagination styles: limit/offset (default 100) or page/page_size (default 20)."""

    limit: int | None = Field(None, ge=0, le=MAX_ROWS)
    offset: int | None = Field(None, ge=0, le=MAX_OFFSET)
    page: int | None = Field(None, ge=1, le=MAX_PAGE)
    page_size: int | None = Field(None, ge=1, le=MAX_ROWS)


class GenomesParams(FilterParams, PageParams):
    """Parameters of ``samples/genomes/``."""

    name: str | None = Field(None, description="Exact sample name")
    ordering: str | None = Field(None, description="Field or property, '-' for descending")
    showNX: bool = Field(False, description="Show N/X calls (one label per base/residue)")
    csv_stream: bool = Field(False, description="Stream CSV instead of JSON")
    vcf_format: bool = Field(False, description="Variants with 0-based coordinates")
    columns: str | None = Field(
        None, description="CSV columns, comma separated; genomic_profiles/proteomic_profiles expand"
    )
    filename: str | None = Field(None, description="CSV file name")


class SampleListParams(PageParams, ReferenceParams):
    """``samples/``: optional exact ``name`` and ordering."""

    name: str | None = None
    ordering: str | None = None


class PlotCustomParams(FilterParams):
    property: str = Field(..., description="Sample column or custom property")


class PlotCustomXYParams(FilterParams):
    x_property: str
    y_property: str


class SequenceNameParams(ForbidExtra):
    sequence_name: str


class PropertyNameParams(ReferenceParams):
    property_name: str


class OptionalReferenceParams(ReferenceParams):
    """A reference that may be absent; sonar's frontend sends ``reference=null`` before one is
    chosen, which means the same as leaving it out."""

    @field_validator("reference_accession", "reference", mode="before")
    @classmethod
    def _null_is_absent(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip() in ("null", "undefined") else value


class DeletePropertyIn(ForbidExtra):
    """Sonar's ``delete_property``: the property's name."""

    name: str = Field(..., min_length=1, max_length=100)


class MatchParams(FilterParams, PageParams):
    """``sample_genomes/match/``: profile and parameter filters as repeated query parameters."""

    profile_filters: list[str] = Field(
        [], description="Mutations (each required), e.g. S:D614G or del:21765-21770"
    )
    param_filters: list[str] = Field(
        [], description="'property=value' (exact) or a JSON filter item"
    )
    showNX: bool = False
    ordering: str | None = None


# --- bodies ---
def parse_body(request, schema: type[Schema]) -> Any:
    """Validate a JSON *or* form-encoded body with ``schema`` (sonar's clients send both).

    :raises ninja.errors.ValidationError: invalid body (answered as 422).
    """
    from ninja.errors import ValidationError as NinjaValidationError
    from pydantic import ValidationError

    content_type = request.content_type or ""
    if content_type.startswith("application/json") or not request.POST:
        try:
            data = json.loads(request.body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise NinjaValidationError(
                [{"loc": ["body"], "msg": f"invalid JSON ({exc})", "type": "json_invalid"}]
            ) from None
    else:
        data = {key: request.POST.get(key) for key in request.POST}
    if not isinstance(data, dict):
        raise NinjaValidationError([{"loc": ["body"], "msg": "expected a JSON object"}])
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        raise NinjaValidationError(errors) from None


def body_doc(schema: type[Schema]) -> dict:
    """``openapi_extra`` documenting a body read by :func:`parse_body`."""
    content = {"schema": schema.model_json_schema()}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": content,
                "application/x-www-form-urlencoded": content,
            },
        }
    }


class BulkSequenceDataIn(ForbidExtra):
    sequence_data: list[str]


def _names(value: Any) -> Any:
    """Accept a list or a JSON string of a list (sonar's clients send the latter)."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = [v.strip() for v in value.split(",") if v.strip()]
        return parsed if isinstance(parsed, list) else [parsed]
    return value


class DeleteSamplesIn(ForbidExtra):
    reference_accession: str | None = Field(
        None, validation_alias=AliasChoices("reference_accession", "reference")
    )
    sample_list: list[str]

    _split = field_validator("sample_list", mode="before")(lambda cls, v: _names(v))


class DeleteSequencesIn(ForbidExtra):
    reference_accession: str | None = Field(
        None, validation_alias=AliasChoices("reference_accession", "reference")
    )
    sequence_list: list[str]

    _split = field_validator("sequence_list", mode="before")(lambda cls, v: _names(v))


class AddPropertyIn(ForbidExtra):
    """Sonar's ``add_property``: name, datatype (sonar's ``value_*`` names accepted)."""

    name: str = Field(..., min_length=1, max_length=100)
    datatype: str = Field(..., description="integer, float, date, text, varchar, zip, bool")
    querytype: str | None = None
    description: str | None = ""
    default: Any = None

    def datatype_name(self) -> str:
        """Sonar's column names (``value_integer``, ``value_varchar`` …) → our type names."""
        name = self.datatype.strip().lower()
        return name.removeprefix("value_").replace("blob", "text")


# --- outputs ---------------------------------------------------------------------------------
class NameValue(Schema):
    name: str
    value: Any


class QcRuleOut(Schema):
    """One QC rule of one sequence (Nextclade's score and status)."""

    score: float
    status: str = Field(description="good | mediocre | bad")
    count: int = Field(description="What the rule counted, known items excluded")
    items: list[str] = Field([], description="Counted items, 1-based (ORF8:Q27*, ORF3a:257-276)")
    known: list[str] = Field([], description="Items known for the reference: found, not scored")


class SequenceQcOut(Schema):
    """The QC of one aligned sequence (one replicon)."""

    status: str = Field(description="good | mediocre | bad")
    score: float = Field(description="Sum of the squared rule scores / 100")
    coverage: float = Field(description="Share of the replicon with informative bases")
    missing_data: int = Field(description="N bases")
    mixed_sites: int = Field(description="Other non-ACGT bases (IUPAC codes)")
    rules: dict[str, QcRuleOut] = Field(
        description="missing_data, mixed_sites, frameshifts, stop_codons, snp_clusters"
    )


class SampleQcOut(Schema):
    """A sample's QC: the worst of its sequences, coverage of the whole reference."""

    status: str = Field(description="good | mediocre | bad")
    score: float
    coverage: float
    missing_data: int
    replicons: dict[str, SequenceQcOut]


class GenomeOut(Schema):
    """One sample of ``samples/genomes/``."""

    id: int
    name: str
    sequences: list[int] = Field(description="Ids of the sample's sequences")
    genomic_profiles: dict[str, dict[str, list[str]]] = Field(
        description='{replicon: {label: ["<seq_ontology> <impact>", ...]}}, labels by position; '
        "frameshifting indels end in '*fs'"
    )
    proteomic_profiles: dict[str, dict[str, list[str]]] = Field(
        description='{"<replicon>: <CDS>": {label: ["<seq_ontology> <impact>", ...]}}, labels '
        "by position; effects are those of the label's nucleotide parents on that CDS"
    )
    properties: list[NameValue]
    qc: SampleQcOut | None = Field(
        None, description="Sequence QC (docs/calling.md); null for samples aligned before QC"
    )
    init_upload_date: dt.datetime
    last_update_date: dt.datetime


class GenomesPage(Schema):
    count: int
    next: str | None
    previous: str | None
    results: list[GenomeOut]


class VcfVariant(Schema):
    model_config = ConfigDict(populate_by_name=True)

    id: int = Field(alias="variant.id")
    ref: str = Field(alias="variant.ref")
    alt: str = Field(alias="variant.alt")
    start: int = Field(alias="variant.start", description="0-based")
    end: int = Field(alias="variant.end", description="0-based, exclusive")


class VcfGenomeOut(Schema):
    id: int
    name: str
    genomic_profiles: dict[str, list[dict[str, Any]]]


class VcfPage(Schema):
    count: int
    next: str | None
    previous: str | None
    results: list[VcfGenomeOut]


class SampleOut(Schema):
    """A sample row with its fixed columns (``samples/``)."""

    id: int
    name: str
    reference: str | None = None
    lineage: str | None
    collection_date: dt.date | None
    country: str | None
    host: str | None
    zip_code: str | None
    lab: str | None
    sequencing_tech: str | None
    sequencing_reason: str | None
    genome_completeness: str | None
    data_set: str | None
    length: int | None
    init_upload_date: dt.datetime
    last_update_date: dt.datetime

    @staticmethod
    def resolve_reference(obj) -> str | None:
        return obj.reference.accession if obj.reference_id else None


class SamplePage(Schema):
    count: int
    next: str | None
    previous: str | None
    results: list[SampleOut]


class StatisticsOut(Schema):
    samples_total: int
    first_sample_date: dt.date | None
    latest_sample_date: dt.date | None
    populated_metadata_fields: list[str]


class FilteredStatisticsOut(Schema):
    filtered_total_count: int


class LineagesOut(Schema):
    lineages: list[str | None]


class MetadataCoverageOut(Schema):
    metadata_coverage: dict[str, int]


# a plain pydantic model, not a ninja ``Schema``: validating 40k rows through ninja's
# attribute-getter root validator costs ~0.5 s at 1M samples; the JSON schema is the same
# (no docstring: it would become the schema's description)
class GroupedLineageWeek(BaseModel):
    week: str
    lineage_group: str
    count: int
    percentage: float


class GroupedLineagesOut(Schema):
    grouped_lineages_per_week: list[GroupedLineageWeek]


class SequenceDataOut(Schema):
    sequence_id: int | None
    name: str
    sequence_seqhash: str | None


class DeleteSamplesOut(Schema):
    status: str
    deleted_count: int
    deleted_samples_count: int


class DeleteSequencesOut(Schema):
    status: str
    deleted_count: int
    deleted_sequences_count: int
    deleted_samples_count: int = Field(0, description="Samples left without records, deleted")


class TablesStatusOut(Schema):
    status: bool
    missing_tables: list[str] | None = None


class DatabaseInfoOut(Schema):
    detail: dict[str, Any]


class DetailOut(Schema):
    detail: str


class PropertyOut(Schema):
    """A typed custom property."""

    id: int
    name: str
    datatype: str
    description: str


class PropertyNamesOut(Schema):
    property_names: list[str]


class PropertyValuesOut(Schema):
    values: list[Any]


class DatasetOptionOut(Schema):
    """One organism of sonar's home page: its reference accessions and sample data sets."""

    accessions: list[str]
    data_sets: list[str] = Field(description="'-Empty-' stands for samples with data_set ''")


class PropertyInfoOut(Schema):
    """A sample column or custom property as sonar's property chooser reads it."""

    name: str
    query_type: str = Field(description="value_varchar, value_integer, value_float, value_date …")
    description: str
    default: str | None
    unique_values_count: int = Field(description="Distinct values among the samples")


class AllPropertiesOut(Schema):
    keys: list[str]
    values: list[PropertyInfoOut]


class MutationsCountOut(Schema):
    distinct_mutations_count: int = Field(description="Distinct NT mutations carried by samples")
