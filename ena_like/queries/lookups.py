"""Lookups by name for sonar's frontend and clients: one sample, sequence records, lineages,
the data sets per organism and the number of distinct mutations."""

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import F

from analyses.models import Lineage, MutationCount, Reference
from emgsonar.errors import NotFoundError
from ena_like.models import Sample, SampleSequence
from ena_like.queries.filtering import samples_of


def sample_by_name(name: str) -> Sample:
    """One sample with its reference.

    :raises NotFoundError: naming the unknown sample.
    """
    found = (
        Sample.objects.select_related("reference")
        .defer("nt_mutation_ids", "aa_mutation_ids")
        .filter(name=name)
        .first()
    )
    if found is None:
        raise NotFoundError(f"unknown sample '{name}'")
    return found


def distinct_lineages(reference: Reference | None) -> list[str | None]:
    """Lineages seen on samples (``None`` for samples without one), sorted, ``None`` last."""
    values = set(samples_of(reference).values_list("lineage", flat=True).distinct().order_by())
    return sorted(v for v in values if v is not None) + ([None] if None in values else [])


def full_lineages(reference: Reference | None) -> list[str]:
    """Every lineage name of the nomenclature (of the reference), sorted, whether or not a
    sample carries it."""
    qs = Lineage.objects.all() if reference is None else Lineage.objects.filter(reference=reference)
    return list(qs.order_by("name").values_list("name", flat=True).distinct())


def sequence_data(names: Iterable[str]) -> list[dict]:
    """``{"sequence_id", "name", "sequence_seqhash"}`` per record name, nulls when unknown."""
    names = list(dict.fromkeys(names))
    found = {
        r["name"]: r
        for r in SampleSequence.objects.filter(name__in=names).values(
            "name", "sequence_id", sequence_seqhash=F("sequence__seqhash")
        )
    }
    return [
        {
            "sequence_id": found[n]["sequence_id"] if n in found else None,
            "name": n,
            "sequence_seqhash": found[n]["sequence_seqhash"] if n in found else None,
        }
        for n in names
    ]


#: how sonar's frontend shows a sample whose ``data_set`` is the empty string
EMPTY_DATA_SET = "-Empty-"


def dataset_options() -> dict[str, dict[str, list[str]]]:
    """Sonar's ``dataset_options``: per organism, the accessions of its references that have
    samples and the data sets of those samples (``""`` as ``-Empty-``, NULL left out).

    Only references with samples are listed, as in sonar: the home page preselects the first
    organism and accession, which must not be an empty one.
    """
    pairs = (
        Sample.objects.filter(reference__isnull=False)
        .values_list("reference_id", "data_set")
        .distinct()
        .order_by()
    )
    data_sets: dict[int, set[str]] = defaultdict(set)
    for reference_id, data_set in pairs:
        named = data_sets.setdefault(reference_id, set())  # listed even if all are NULL
        if data_set is not None:
            named.add(data_set or EMPTY_DATA_SET)
    result: dict[str, dict[str, set[str]]] = {}
    for ref in Reference.objects.filter(pk__in=list(data_sets)).order_by("id"):
        entry = result.setdefault(
            ref.organism or ref.accession, {"accessions": set(), "data_sets": set()}
        )
        entry["accessions"].add(ref.accession)
        entry["data_sets"] |= data_sets[ref.pk]
    return {
        organism: {"accessions": sorted(e["accessions"]), "data_sets": sorted(e["data_sets"])}
        for organism, e in result.items()
    }


def distinct_mutations_count(reference: Reference | None) -> int:
    """Distinct nucleotide mutations carried by at least one sample (of the reference), from
    the maintained ``MutationCount`` (rows exist only while a sample carries the mutation)."""
    rows = MutationCount.objects.filter(level=MutationCount.Level.NUCLEOTIDE)
    if reference is not None:
        rows = rows.filter(reference=reference)
    return rows.count()
