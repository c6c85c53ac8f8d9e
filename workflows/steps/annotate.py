"""Step ``annotate``: upsert the distinct mutations (and effects) of a chunk's results.

Keys of the mutation id map it returns (:data:`MutationKey`, built by :func:`mutation_key`):
``("nt", replicon_accession, start, end, ref, alt)`` and ``("aa", cds_symbol, start, end, ref,
alt)`` (0-based half-open, as stored).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction

from analyses.calling.types import NT_DELETION, NT_INSERTION, AaMutation, NtMutation, SequenceResult
from analyses.models import AminoAcidMutation, Cds, MutationEffect, MutationKind, NucleotideMutation
from emgsonar.errors import InputFormatError
from workflows.steps.lookups import cds_ids_by_symbol, replicon_ids_by_accession

NT = NucleotideMutation._meta.db_table
AA = AminoAcidMutation._meta.db_table
EFFECT = MutationEffect._meta.db_table

#: ``("nt", replicon, start, end, ref, alt)`` or ``("aa", cds, start, end, ref, alt)``
MutationKey = tuple[str, str, int, int, str, str]


def mutation_key(mutation: NtMutation | AaMutation) -> MutationKey:
    """The key of a called mutation in the id map (the one place that builds it from a call)."""
    if isinstance(mutation, NtMutation):
        return ("nt", *mutation.key)
    return ("aa", mutation.cds, mutation.start, mutation.end, mutation.ref, mutation.alt)


_KIND = {"substitution": MutationKind.SUBSTITUTION.value, "ambiguous": "sub"}
_KIND.update({NT_DELETION: MutationKind.DELETION.value, NT_INSERTION: MutationKind.INSERTION.value})
_AA_KIND = {"substitution": "sub", "deletion": "del", "insertion": "ins"}


def _nt_label(label: str, replicon: str) -> str:
    """The stored label has no replicon prefix (multi-replicon results carry one)."""
    prefix = f"{replicon}:"
    return label[len(prefix) :] if label.startswith(prefix) else label


def annotate_chunk(
    reference_id: int, results: Iterable[SequenceResult], import_run_id: int | None = None
) -> dict[MutationKey, int]:
    """Upsert the distinct NT and AA mutations of a chunk (and the effects of new NT ones).

    ``COPY`` into a temporary table, ``INSERT ... ON CONFLICT DO NOTHING``, select back: one
    round trip per table whatever the chunk size, and safe against a concurrent chunk creating
    the same mutation. Effects are written for mutations this call created; a known mutation
    keeps the effects it was first annotated with.

    :returns: mutation key → id (see the module docstring for the keys).
    :raises InputFormatError: a result names a replicon or CDS the reference does not have.
    """
    replicon_ids = replicon_ids_by_accession(reference_id)
    cds_ids = cds_ids_by_symbol(reference_id)
    gene_cds = dict(
        Cds.objects.filter(replicon__reference_id=reference_id, gene__isnull=False)
        .order_by("-id")
        .values_list("gene__symbol", "id")
    )
    nt_seen: dict[MutationKey, NtMutation] = {}
    aa_seen: dict[MutationKey, AaMutation] = {}
    for result in results:
        if result.errors:
            continue
        for m in result.nt_mutations:
            nt_seen.setdefault(mutation_key(m), m)
        for m in result.aa_mutations:
            aa_seen.setdefault(mutation_key(m), m)
    unknown = sorted({k[1] for k in nt_seen if k[1] not in replicon_ids})
    unknown_cds = sorted({k[1] for k in aa_seen if k[1] not in cds_ids})
    if unknown or unknown_cds:
        raise InputFormatError(
            "results do not belong to this reference: unknown "
            + ", ".join([*(f"replicon {r}" for r in unknown), *(f"CDS {c}" for c in unknown_cds)]),
            hint="Align the chunk again against this reference",
        )
    ids: dict[MutationKey, int] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        nt_rows = [
            (replicon_ids[k[1]], _KIND.get(m.kind, "sub"), k[2], k[3], k[4], k[5],
             _nt_label(m.label, k[1]))
            for k, m in nt_seen.items()
        ]  # fmt: skip
        new_nt = _upsert_mutations(cursor, NT, "replicon_id", nt_rows, import_run_id)
        accession_of = {v: k for k, v in replicon_ids.items()}
        for (owner, *place), mutation_id in new_nt[1].items():
            ids[("nt", accession_of[owner], *place)] = mutation_id
        aa_rows = [
            (cds_ids[k[1]], _AA_KIND.get(m.kind, "sub"), k[2], k[3], k[4], k[5], m.label)
            for k, m in aa_seen.items()
        ]
        new_aa = _upsert_mutations(cursor, AA, "cds_id", aa_rows, import_run_id)
        symbol_of = {v: k for k, v in cds_ids.items()}
        for (owner, *place), mutation_id in new_aa[1].items():
            ids[("aa", symbol_of[owner], *place)] = mutation_id
        effects: dict[tuple[int, int | None, str], str] = {}
        for owner, *place in new_nt[0]:
            key = ("nt", accession_of[owner], *place)
            mutation_id = ids[key]
            for effect in nt_seen[key].effects:
                cds_id = None
                if effect.cds is not None:
                    cds_id = cds_ids.get(effect.cds) or gene_cds.get(effect.cds)
                effects.setdefault((mutation_id, cds_id, effect.so_term), effect.impact)
        if effects:
            with cursor.copy(
                f"COPY {EFFECT} (mutation_id, cds_id, seq_ontology, impact) FROM STDIN"
            ) as copy:
                for (mutation_id, cds_id, term), impact in sorted(
                    effects.items(), key=lambda item: (item[0][0], item[0][1] or 0, item[0][2])
                ):
                    copy.write_row((mutation_id, cds_id, term, impact))
    return ids


def _upsert_mutations(
    cursor, table: str, owner: str, rows: list[tuple], import_run_id: int | None
) -> tuple[set[tuple], dict[tuple, int]]:
    """Insert missing mutations; return (keys created, key → id for all ``rows``).

    Keys are ``(owner id, start, end, ref, alt)``.
    """
    if not rows:
        return set(), {}
    tmp = f"tmp_{table}"
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {tmp} (owner bigint, kind varchar(3), start int, "
        '"end" int, ref text, alt text, label text) ON COMMIT DROP'
    )
    cursor.execute(f"TRUNCATE {tmp}")
    with cursor.copy(f'COPY {tmp} (owner, kind, start, "end", ref, alt, label) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)
    cursor.execute(
        f'INSERT INTO {table} ({owner}, kind, start, "end", ref, alt, label, first_seen_run_id) '
        f'SELECT owner, kind, start, "end", ref, alt, label, %s FROM {tmp} '
        'ORDER BY owner, start, "end", ref, alt '
        f'ON CONFLICT ({owner}, start, "end", ref, alt) DO NOTHING '
        f'RETURNING {owner}, start, "end", ref, alt',
        [import_run_id],
    )
    created = {tuple(row) for row in cursor.fetchall()}
    cursor.execute(
        f'SELECT m.{owner}, m.start, m."end", m.ref, m.alt, m.id FROM {table} m JOIN {tmp} t '
        f'ON m.{owner} = t.owner AND m.start = t.start AND m."end" = t."end" '
        "AND m.ref = t.ref AND m.alt = t.alt"
    )
    return created, {tuple(row[:5]): row[5] for row in cursor.fetchall()}
