"""Sample endpoints of sonar's contract (api.md): queries, statistics, plots, exports, deletes.

Views stay thin: parse parameters, call ``ena_like.queries``/``exports``/``services``, return.
Every endpoint that takes ``filters`` goes through :func:`filtering.filtered_samples` (the one
filter engine). Sonar's alias paths (``statistics/…``, ``plots/…``) answer the same functions.
"""

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router, Status
from ninja.pagination import paginate

from emgsonar.auth import READ_AUTH, WRITE_AUTH, require_permission
from emgsonar.pagination import SonarPagination, page_links, resolve_window
from emgsonar.rendering import json_response
from ena_like.exports import csv_lines, expand_columns
from ena_like.queries import database, filtering, lookups, profiles
from ena_like.queries import properties as property_queries
from ena_like.queries import statistics as stats
from ena_like.schemas import (
    AddPropertyIn,
    AllPropertiesOut,
    BulkSequenceDataIn,
    DatabaseInfoOut,
    DatasetOptionOut,
    DeletePropertyIn,
    DeleteSamplesIn,
    DeleteSamplesOut,
    DeleteSequencesIn,
    DeleteSequencesOut,
    DetailOut,
    ErrorOut,
    FilteredStatisticsOut,
    FilterParams,
    GenomesPage,
    GenomesParams,
    GroupedLineagesOut,
    LineagesOut,
    MatchParams,
    MetadataCoverageOut,
    MutationsCountOut,
    OptionalReferenceParams,
    PlotCustomParams,
    PlotCustomXYParams,
    PropertyNameParams,
    PropertyNamesOut,
    PropertyOut,
    PropertyValuesOut,
    ReferenceParams,
    SampleListParams,
    SampleOut,
    SamplePage,
    SequenceDataOut,
    SequenceNameParams,
    StatisticsOut,
    TablesStatusOut,
    ValidationErrorOut,
    VcfPage,
    body_doc,
    parse_body,
)
from ena_like.services import deletion, properties

router = Router(tags=["samples"], auth=READ_AUTH)

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ValidationErrorOut}


def _page(request: HttpRequest, params, count: int, rows: list) -> dict:
    window = resolve_window(params.limit, params.offset, params.page, params.page_size)
    nxt, prev = page_links(request, window, count)
    return {"count": count, "next": nxt, "previous": prev, "results": rows}


# --- lists and the main query ------------------------------------------------------------------
@router.get("samples/", response={200: SamplePage, **ERRORS})
def list_samples(request: HttpRequest, params: Query[SampleListParams]):
    """Samples (optionally of one reference, or the one named ``name``), paginated."""
    query = filtering.filtered_samples(params.accession(), None, params.name)
    window = resolve_window(params.limit, params.offset, params.page, params.page_size)
    qs = filtering.ordered(query.queryset, params.ordering).select_related("reference")
    rows = list(
        qs.defer("nt_mutation_ids", "aa_mutation_ids")[window.offset : window.offset + window.limit]
    )
    return _page(request, params, filtering.filtered_count(query), rows)


@router.get("samples/genomes/", response={200: GenomesPage | VcfPage, **ERRORS})
def genomes(request: HttpRequest, params: Query[GenomesParams]):
    """The main query: filtered samples with profiles and properties (or CSV/VCF)."""
    query = filtering.filtered_samples(params.accession(), params.filters, params.name)
    qs = filtering.ordered(query.queryset, params.ordering)
    if params.csv_stream:
        columns = expand_columns((params.columns or "name").split(","), query.reference)
        response = StreamingHttpResponse(
            csv_lines(qs, columns, params.showNX, reference=query.reference),
            content_type="text/csv",
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{params.filename or "sample_genomes.csv"}"'
        )
        return response
    window = resolve_window(params.limit, params.offset, params.page, params.page_size)
    samples = profiles.page_of(qs, window.offset, window.limit)
    build = profiles.vcf_genomes if params.vcf_format else profiles.genomes
    return _page(request, params, filtering.filtered_count(query), build(samples, params.showNX))


@router.get("sample_genomes/match/", response={200: GenomesPage, **ERRORS})
def match_genomes(request: HttpRequest, params: Query[MatchParams]):
    """Sonar's ``match``: ``profile_filters`` (mutations, all required) and ``param_filters``
    (``property=value`` or JSON filter items), ANDed with ``filters``; answered as genomes."""
    combined = filtering.match_filters(params.filters, params.profile_filters, params.param_filters)
    query = filtering.filtered_samples(params.accession(), combined)
    window = resolve_window(params.limit, params.offset, params.page, params.page_size)
    samples = profiles.page_of(
        filtering.ordered(query.queryset, params.ordering), window.offset, window.limit
    )
    return _page(
        request, params, filtering.filtered_count(query), profiles.genomes(samples, params.showNX)
    )


# --- statistics ------------------------------------------------------------------------------
@router.get("samples/statistics/", response={200: StatisticsOut, **ERRORS})
@router.get("statistics/statistics/", response={200: StatisticsOut, **ERRORS})
def statistics(request: HttpRequest, params: Query[ReferenceParams]):
    """Totals and dates over all samples of the reference (or all samples)."""
    return stats.statistics(filtering.reference_or_none(params.accession()))


@router.get("samples/filtered_statistics/", response={200: FilteredStatisticsOut, **ERRORS})
@router.get("statistics/filtered_statistics/", response={200: FilteredStatisticsOut, **ERRORS})
def filtered_statistics(request: HttpRequest, params: Query[FilterParams]):
    """How many samples match ``filters``."""
    query = filtering.filtered_samples(params.accession(), params.filters)
    return {"filtered_total_count": filtering.filtered_count(query)}


@router.get("samples/distinct_lineages/", response={200: LineagesOut, **ERRORS})
@router.get("lineages/distinct_lineages/", response={200: LineagesOut, **ERRORS})
def distinct_lineages(request: HttpRequest, params: Query[ReferenceParams]):
    """Lineages seen on samples (``null`` for samples without)."""
    return {"lineages": lookups.distinct_lineages(filtering.reference_or_none(params.accession()))}


@router.get("samples/full_lineages/", response={200: LineagesOut, **ERRORS})
@router.get("lineages/full_lineages/", response={200: LineagesOut, **ERRORS})
def full_lineages(request: HttpRequest, params: Query[ReferenceParams]):
    """Every lineage name of the reference's nomenclature."""
    return {"lineages": lookups.full_lineages(filtering.reference_or_none(params.accession()))}


# --- plots -----------------------------------------------------------------------------------
def _filtered(params: FilterParams):
    return filtering.filtered_samples(params.accession(), params.filters)


@router.get("samples/plot_metadata_coverage/", response={200: MetadataCoverageOut, **ERRORS})
@router.get("plots/plot_metadata_coverage/", response={200: MetadataCoverageOut, **ERRORS})
def plot_metadata_coverage(request: HttpRequest, params: Query[FilterParams]):
    """Samples with a value, per field (profiles included)."""
    return {"metadata_coverage": stats.metadata_coverage(_filtered(params))}


@router.get("samples/plot_samples_per_week/", response={200: list[tuple[str, int]], **ERRORS})
@router.get("plots/plot_samples_per_week/", response={200: list[tuple[str, int]], **ERRORS})
def plot_samples_per_week(request: HttpRequest, params: Query[FilterParams]):
    """``[["2024-W01", 45], …]``, ISO weeks, empty weeks inside the range as 0."""
    return stats.samples_per_week(_filtered(params))


@router.get("samples/plot_grouped_lineages_per_week/", response={200: GroupedLineagesOut, **ERRORS})
@router.get("plots/plot_grouped_lineages_per_week/", response={200: GroupedLineagesOut, **ERRORS})
def plot_grouped_lineages_per_week(request: HttpRequest, params: Query[FilterParams]):
    """Share of each lineage group per ISO week."""
    rows = stats.grouped_lineages_per_week(_filtered(params))
    # rendered directly: the rows are already plain str/int/float of ``GroupedLineagesOut``
    # (the declared schema), and validating then dumping ~40k of them through pydantic took
    # longer (~0.15 s at 1M samples) than rendering the JSON
    return json_response(request, {"grouped_lineages_per_week": rows})


@router.get("samples/plot_custom/", response={200: dict[str, dict[str, int]], **ERRORS})
@router.get("plots/plot_custom/", response={200: dict[str, dict[str, int]], **ERRORS})
def plot_custom(request: HttpRequest, params: Query[PlotCustomParams]):
    """``{property: {value: samples}}``."""
    return stats.custom_plot(_filtered(params).queryset, params.property)


@router.get("samples/plot_custom_xy/", response={200: dict[str, list[dict[str, int]]], **ERRORS})
@router.get("plots/plot_custom_xy/", response={200: dict[str, list[dict[str, int]]], **ERRORS})
def plot_custom_xy(request: HttpRequest, params: Query[PlotCustomXYParams]):
    """``{x: [{y: samples}, …]}``."""
    return stats.custom_xy_plot(_filtered(params).queryset, params.x_property, params.y_property)


# --- sequences -------------------------------------------------------------------------------
@router.get("samples/get_sequence_data/", response={200: SequenceDataOut, **ERRORS})
def get_sequence_data(request: HttpRequest, params: Query[SequenceNameParams]):
    """Id and seqhash of one sequence record (nulls when unknown)."""
    return lookups.sequence_data([params.sequence_name])[0]


@router.post("samples/get_bulk_sequence_data/", response={200: list[SequenceDataOut], **ERRORS})
def get_bulk_sequence_data(request: HttpRequest, body: BulkSequenceDataIn):
    """Id and seqhash of many records, in the order asked; unknown names with nulls."""
    return lookups.sequence_data(body.sequence_data)


# --- writes ----------------------------------------------------------------------------------
@router.post(
    "samples/delete_sample_data/",
    response={200: DeleteSamplesOut, **ERRORS},
    auth=WRITE_AUTH,
    openapi_extra=body_doc(DeleteSamplesIn),
)
def delete_sample_data(request: HttpRequest):
    """Delete samples by name (JSON or form body ``{reference_accession, sample_list}``)."""
    require_permission(request, "ena_like.delete_sample")
    body = parse_body(request, DeleteSamplesIn)
    _records, samples = deletion.delete_samples(body.reference_accession, body.sample_list)
    return {"status": "success", "deleted_count": samples, "deleted_samples_count": samples}


@router.post(
    "samples/delete_sequence_data/",
    response={200: DeleteSequencesOut, **ERRORS},
    auth=WRITE_AUTH,
    openapi_extra=body_doc(DeleteSequencesIn),
)
def delete_sequence_data(request: HttpRequest):
    """Delete sequence records by name (body ``{reference_accession, sequence_list}``)."""
    require_permission(request, "ena_like.delete_samplesequence")
    body = parse_body(request, DeleteSequencesIn)
    records, samples = deletion.delete_sequences(body.reference_accession, body.sequence_list)
    return {
        "status": "success",
        "deleted_count": records,
        "deleted_sequences_count": records,
        "deleted_samples_count": samples,
    }


@router.post(
    "properties/add_property/",
    response={200: DetailOut, 201: DetailOut, **ERRORS},
    auth=WRITE_AUTH,
    tags=["properties"],
    openapi_extra=body_doc(AddPropertyIn),
)
def add_property(request: HttpRequest):
    """Declare a typed custom property (sonar's ``add_property``, JSON or form body, as its
    CLI sends); 200 if it already exists, also when the name is a fixed sample column."""
    require_permission(request, "ena_like.add_property")
    body = parse_body(request, AddPropertyIn)
    done = properties.declare_property(body.name, body.datatype_name(), body.description or "")
    if not done.created:
        return Status(200, {"detail": f"Property '{done.name}' already exists"})
    return Status(201, {"detail": f"Property '{done.name}' added successfully"})


@router.post(
    "properties/delete_property/",
    response={200: DetailOut, **ERRORS},
    auth=WRITE_AUTH,
    tags=["properties"],
    openapi_extra=body_doc(DeletePropertyIn),
)
def delete_property(request: HttpRequest):
    """Delete a custom property and its values (JSON or form body ``{name}``)."""
    require_permission(request, "ena_like.delete_property")
    body = parse_body(request, DeletePropertyIn)
    if properties.delete_property(body.name) == 0:
        return {"detail": f"No matching property '{body.name.strip()}' found for deletion"}
    return {"detail": f"Property '{body.name.strip()}' deleted successfully"}


# --- properties ------------------------------------------------------------------------------
@router.get("properties/", response={200: list[PropertyOut], **ERRORS}, tags=["properties"])
@paginate(SonarPagination)
def list_properties(request: HttpRequest):
    """Custom properties with their types."""
    return property_queries.properties()


@router.get("properties/{int:pk}/", response={200: PropertyOut, **ERRORS}, tags=["properties"])
def get_property(request: HttpRequest, pk: int):
    """One custom property by id."""
    return property_queries.property_by_id(pk)


@router.get(
    "properties/distinct_property_names/",
    response={200: PropertyNamesOut, **ERRORS},
    tags=["properties"],
)
def distinct_property_names(request: HttpRequest):
    """Custom property names, then the sample columns."""
    return {"property_names": property_queries.property_names()}


@router.get(
    "properties/get_all_properties/",
    response={200: AllPropertiesOut, **ERRORS},
    tags=["properties"],
)
def get_all_properties(request: HttpRequest, params: Query[OptionalReferenceParams]):
    """Sample columns and custom properties with sonar's query type and their number of
    distinct values among the reference's samples (the frontend's property chooser)."""
    reference = filtering.reference_or_none(params.accession())
    return {
        "keys": property_queries.ALL_PROPERTIES_KEYS,
        "values": property_queries.all_properties(reference),
    }


@router.get(
    "references/dataset_options/",
    response={200: dict[str, DatasetOptionOut], **ERRORS},
    tags=["reference data"],
)
def dataset_options(request: HttpRequest):
    """Per organism: accessions of references with samples, and their samples' data sets."""
    return lookups.dataset_options()


@router.get(
    "mutations/distinct_mutations_count/",
    response={200: MutationsCountOut, **ERRORS},
    tags=["reference data"],
)
def distinct_mutations_count(request: HttpRequest, params: Query[OptionalReferenceParams]):
    """How many distinct NT mutations the samples (of the reference) carry."""
    reference = filtering.reference_or_none(params.accession())
    return {"distinct_mutations_count": lookups.distinct_mutations_count(reference)}


@router.get(
    "properties/distinct_properties/",
    response={200: PropertyValuesOut, **ERRORS},
    tags=["properties"],
)
def distinct_properties(request: HttpRequest, params: Query[PropertyNameParams]):
    """Distinct values of a property or column (of one reference, if given)."""
    reference = filtering.reference_or_none(params.accession())
    return {"values": property_queries.distinct_property_values(params.property_name, reference)}


# --- database --------------------------------------------------------------------------------
@router.get(
    "database/get_database_tables_status/",
    response={200: TablesStatusOut, **ERRORS},
    tags=["database"],
    exclude_none=True,
)
def database_tables_status(request: HttpRequest):
    """Whether every table exists (``missing_tables`` otherwise)."""
    missing = database.missing_tables()
    return {"status": True} if not missing else {"status": False, "missing_tables": missing}


@router.get(
    "database/get_database_info/", response={200: DatabaseInfoOut, **ERRORS}, tags=["database"]
)
def database_info(request: HttpRequest):
    """Coverage, totals, dates, references, size and version."""
    return {"detail": database.database_info()}


# registered last: ``{path:name}`` (influenza names hold slashes) must not shadow the paths above
@router.get("samples/{path:name}/", response={200: SampleOut, **ERRORS})
def get_sample(request: HttpRequest, name: str):
    """One sample by name."""
    return lookups.sample_by_name(name)
