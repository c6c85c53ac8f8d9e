"""Reads shared by several steps: ids of a reference's replicons and CDS, aligned sequences."""

from __future__ import annotations

from collections.abc import Sequence

from analyses.models import Cds, Replicon
from ena_like.services.sample_index import ALIGNMENT, REPLICON, SEQUENCE

#: names per ``= ANY(%s)`` lookup: bounds the size of one statement's parameter
LOOKUP_BATCH = 5000


def replicon_ids_by_accession(reference_id: int) -> dict[str, int]:
    """Replicon accession → id (results name replicons by accession)."""
    return dict(Replicon.objects.filter(reference_id=reference_id).values_list("accession", "id"))


def cds_ids_by_symbol(reference_id: int) -> dict[str, int]:
    """CDS symbol → id (results name CDS by symbol, unique per reference)."""
    return dict(Cds.objects.filter(replicon__reference_id=reference_id).values_list("symbol", "id"))


def aligned_seqhashes(cursor, reference_id: int, seqhashes: Sequence[str]) -> set[str]:
    """The seqhashes among ``seqhashes`` with an alignment against this reference."""
    found: set[str] = set()
    for i in range(0, len(seqhashes), LOOKUP_BATCH):
        cursor.execute(
            f"SELECT q.seqhash FROM {SEQUENCE} q WHERE q.seqhash = ANY(%s) AND EXISTS ("
            f"SELECT 1 FROM {ALIGNMENT} a JOIN {REPLICON} r ON r.id = a.replicon_id "
            "WHERE a.sequence_id = q.id AND r.reference_id = %s)",
            [list(seqhashes[i : i + LOOKUP_BATCH]), reference_id],
        )
        found.update(row[0] for row in cursor.fetchall())
    return found
