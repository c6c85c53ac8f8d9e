"""The filtered, ordered sample queryset behind every endpoint that takes ``filters``.

:func:`filtered_samples` compiles the filter tree into one predicate on ``ena_like_sample``
(see ``ena_like/filters``); :func:`filtered_count` answers from maintained counts when it can.
"""

import json
from dataclasses import dataclass

from django.db.models import F, QuerySet

from analyses.models import MutationCount, Reference
from analyses.queries import clean_accession
from emgsonar.errors import NotFoundError
from ena_like.fields import FIXED_COLUMNS
from ena_like.filters import FilterCompiler, FilterError, FilterNode, parse_filters
from ena_like.filters.query_language import QueryText, locate, parse_query
from ena_like.filters.tree import MutationCondition, ProfileCondition
from ena_like.models import Sample, SampleFieldCoverage
from ena_like.queries.coverage import stored_coverage
from ena_like.queries.values import custom_value, property_types

#: default ordering of sample lists (api.md); NULL dates last, ties by id (stable pages)
DEFAULT_ORDERING = "-collection_date"


def reference_or_none(accession: str | None) -> Reference | None:
    """The reference of ``accession`` (quotes stripped), ``None`` when not given.

    :raises NotFoundError: naming the unknown accession.
    """
    accession = clean_accession(accession)
    if not accession:
        return None
    found = Reference.objects.filter(accession=accession).first()
    if found is None:
        raise NotFoundError(f"unknown reference '{accession}'")
    return found


def samples_of(reference: Reference | None) -> QuerySet[Sample]:
    """The samples of ``reference``, every sample when ``None``."""
    return Sample.objects.all() if reference is None else Sample.objects.filter(reference=reference)


@dataclass
class SampleQuery:
    """A filtered sample queryset with what it was built from."""

    queryset: QuerySet[Sample]
    reference: Reference | None
    tree: FilterNode
    compiler: FilterCompiler | None
    #: every sample of the reference (or all samples): no filter, no name
    unfiltered: bool = False


def filter_tree(filters: str | dict | FilterNode | None, query: str | None = None) -> FilterNode:
    """The tree of ``filters`` (JSON, or a :class:`QueryText` from ``FilterParams``) or
    ``query`` (the query language); one of them.

    :raises FilterError: both given, or either one bad (a query's syntax error points at the
        character: ``QuerySyntaxError``).
    """
    if isinstance(filters, QueryText):
        return parse_query(filters)
    if isinstance(filters, FilterNode):
        given = not filters.is_empty()
    else:
        given = bool(filters.strip()) if isinstance(filters, str) else bool(filters)
    if query and query.strip():
        if given:
            raise FilterError(
                "both 'filters' and 'query' given",
                hint="Send one: the filter JSON or the same filter in the query language",
            )
        return parse_query(query)
    return filters if isinstance(filters, FilterNode) else parse_filters(filters)


def filtered_samples(
    reference_accession: str | None,
    filters: str | dict | FilterNode | None,
    name: str | None = None,
    query: str | None = None,
) -> SampleQuery:
    """Samples of the reference that satisfy ``filters`` or ``query`` (and have that ``name``).

    :raises FilterError: bad filters or query, both of them, or either without a reference.
    :raises NotFoundError: unknown reference.
    """
    reference = reference_or_none(reference_accession)
    tree = filter_tree(filters, query)
    is_query = isinstance(filters, QueryText) or bool(query and query.strip())
    qs = Sample.objects.all()
    compiler = None
    if reference is not None:
        qs = qs.filter(reference=reference)
        if not tree.is_empty():
            compiler = FilterCompiler(reference)
            try:
                qs = qs.filter(compiler.compile(tree))
            except FilterError as exc:
                text = filters if isinstance(filters, QueryText) else query
                if not is_query or text is None:
                    raise
                # a query's names checked against the database: say where they are
                raise locate(text, exc) from None
    elif not tree.is_empty():
        raise FilterError(
            f"'{'query' if is_query else 'filters'}' needs a reference",
            hint="Add reference_accession=<accession> (or reference=)",
        )
    if name:
        qs = qs.filter(name=name)
    return SampleQuery(qs, reference, tree, compiler, unfiltered=tree.is_empty() and not name)


def match_filters(
    filters: str | None,
    profile_filters: list[str],
    param_filters: list[str],
    query: str | None = None,
) -> FilterNode:
    """Sonar's ``match`` parameters as one filter tree, ANDed with ``filters`` (or ``query``).

    ``profile_filters``: mutations (each item may hold several, all required).
    ``param_filters``: ``property=value`` (exact) or a JSON filter item.
    """
    given = filter_tree(filters, query)
    if not profile_filters and not param_filters:
        return given
    items: list[dict] = []
    items.extend({"label": "DNA/AA Profile", "value": p} for p in profile_filters if p.strip())
    for param in param_filters:
        text = param.strip()
        if text.startswith("{"):
            items.append(parse_filters_json(text))
        elif "=" in text:
            name, value = text.split("=", 1)
            items.append(
                {
                    "label": "Property",
                    "property_name": name.strip(),
                    "filter_type": "exact",
                    "value": value.strip(),
                }
            )
        elif text:
            raise FilterError(f"param_filters item '{text}' is neither 'property=value' nor JSON")
    return FilterNode(and_=[given, parse_filters({"andFilter": items})])


def parse_filters_json(text: str) -> dict:
    """Decode JSON filter text (errors named as filter errors)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FilterError(f"not valid JSON ({exc.msg})", value=text) from None
    if not isinstance(value, dict):
        raise FilterError("a filter must be a JSON object", value=text)
    return value


def filtered_count(query: SampleQuery) -> int:
    """How many samples match. Without a filter the maintained ``SampleFieldCoverage`` total
    answers, one exact mutation alone ``MutationCount`` (both exact at every commit); anything
    else is counted."""
    if query.unfiltered:
        return stored_coverage(query.reference).get(SampleFieldCoverage.TOTAL, 0)
    fast = _single_mutation_count(query)
    return fast if fast is not None else query.queryset.count()


def _collapse(node: FilterNode) -> FilterNode:
    """The node a tree of single-item wrappers stands for: an ``andFilter`` or ``orFilter``
    with exactly one non-empty item and no own condition *is* that item (sonar's clients send
    ``{"andFilter": [item]}``); empty items are ignored, as the compiler ignores them."""
    while node.condition is None:
        children = [c for c in (*node.and_, *node.or_) if not c.is_empty()]
        if len(children) != 1:
            break
        node = children[0]
    return node


def single_mutation(query: SampleQuery) -> tuple[str, int] | None:
    """``(level, mutation id)`` when the filter is exactly one exact, stored mutation (however
    the client wraps it): the case the maintained per-mutation aggregates (``MutationCount``,
    ``MutationWeekCount``) answer without touching the sample table."""
    compiler = query.compiler
    if compiler is None:
        return None
    tree = _collapse(query.tree)
    if tree.and_ or tree.or_ or tree.condition is None:
        return None
    cond = tree.condition
    if cond.exclude or not isinstance(cond, ProfileCondition | MutationCondition):
        return None
    return compiler.single_mutation()


def _single_mutation_count(query: SampleQuery) -> int | None:
    single = single_mutation(query)
    if single is None:
        return None
    level, mutation_id = single
    return (
        MutationCount.objects.filter(
            reference=query.reference, level=level, mutation_id=mutation_id
        )
        .values_list("samples", flat=True)
        .first()
    )


def ordered(qs: QuerySet[Sample], ordering: str | None) -> QuerySet[Sample]:
    """Order by a column or custom property (``-`` descending); NULLs last, ties by id.

    :raises FilterError: unknown field.
    """
    ordering = (ordering or DEFAULT_ORDERING).strip()
    descending = ordering.startswith("-")
    field = ordering.lstrip("-+")
    if field in FIXED_COLUMNS or field == "id":
        expression = F(field)
    else:
        prop = property_types().get(field)
        if prop is None:
            raise FilterError(
                f"cannot order by unknown field '{field}'",
                hint="Use a sample column or property name, '-' for descending",
            )
        expression = custom_value(prop)
    key = expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)
    return qs.order_by(key, "-id" if descending else "id")
