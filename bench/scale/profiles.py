"""Mutation profiles of real genomes, called once and cached in ``bench/out/``.

Two real sets: the 1000 GenBank genomes of ``peers/sars-cov-2/genbank_open_1000`` (2020-2023,
~25 NT calls each) and the 1000 German genomes of 2024 in ``sars-cov-2/SARS-CoV-2_1000``
(~120 NT calls each, JN.1/KP.* lineages), so the synthetic world has recent lineages whose
profiles are as long as today's genomes. ``--genomes K`` takes only the first K of each set
(the clean-machine test uses a handful; the cache file is named after K).

The cache is a small JSON document independent of the engine's classes::

    {"reference": "MN908947.3", "engine": "...", "genomes": [{"name", "lineage", "date",
     "country", "length", "nt": [i, ...], "aa": [j, ...]}, ...],
     "nt": [[replicon, start, end, ref, alt, kind, label, [[cds, so_term, impact], ...]], ...],
     "aa": [[cds, start, end, ref, alt, kind, label, [nt_index, ...]], ...]}

``nt``/``aa`` list every distinct mutation once; a genome refers to them by index. An AA
mutation's ``parents`` are the union, over all genomes carrying it, of the NT mutations that
caused it. Kinds use the database's short names (``sub``/``del``/``ins``); ambiguous (N)
calls are left out (hidden by the API's default ``showNX=false``).
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import lzma
import random
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from common import (
    GENBANK,
    GENOMES_2024_FASTA,
    GENOMES_2024_METADATA,
    GENOMES_FASTA,
    GENOMES_METADATA,
    OUT_DIR,
)

logger = logging.getLogger("bench.profiles")

_KIND = {"substitution": "sub", "deletion": "del", "insertion": "ins"}


def cache_path(genomes: int | None, out_dir: Path = OUT_DIR) -> Path:
    """The cache file of a profile set (all genomes, or the first ``genomes`` of each set)."""
    return out_dir / ("profiles.json" if genomes is None else f"profiles-{genomes}.json")


def load_metadata() -> dict[str, dict[str, str | None]]:
    """Lineage, date and country of every real genome by name (GenBank: with and without
    version), from the metadata files of both sets."""
    rows: dict[str, dict[str, str | None]] = {}
    with GENOMES_METADATA.open(newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            meta = {
                "lineage": row.get("pangoLineage") or None,
                "date": row.get("date") or None,
                "country": row.get("country") or None,
            }
            rows[row["genbankAccession"]] = meta
            if row.get("genbankAccessionRev"):
                rows[row["genbankAccessionRev"]] = meta
    with lzma.open(GENOMES_2024_METADATA, "rt", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            rows[row["igs_id"]] = {
                "lineage": row.get("lineages") or None,
                "date": (row.get("date_of_sampling") or "")[:10] or None,
                "country": "Germany",
            }
    return rows


def synthetic_records(
    records: Iterable[Any], copies: int = 4, substitutions: int = 8, seed: int = 7
) -> Iterator[Any]:
    """The real records, then ``copies`` variants of each with random extra substitutions.

    The 1000 real genomes hold only ~1,300 distinct NT calls; a million real genomes hold tens of
    thousands, most of them rare. The variants give the rare tail *real* calls (labels, effects,
    AA consequences from the engine) without inventing any annotation here. Variants are named
    ``SYN-<record>-<k>`` and carry no metadata.
    """
    from analyses.calling.seqio import FastaRecord, seqhash

    rng = random.Random(seed)
    real = list(records)
    yield from real
    for record in real:
        sequence = record.sequence
        for k in range(copies):
            chars = list(sequence)
            for _ in range(substitutions):
                pos = rng.randrange(60, len(chars) - 60)
                if chars[pos] in "ACGT":
                    chars[pos] = rng.choice([b for b in "ACGT" if b != chars[pos]])
            text = "".join(chars)
            yield FastaRecord(f"SYN-{record.id}-{k}", "", text, seqhash(text))


def call_results(genomes: int | None = None) -> tuple[str, Iterable[Any]]:
    """Call the real genomes of both sets (and variants of the GenBank set) with the project's
    calling engine.

    :param genomes: only the first ``genomes`` records of each set (``None``: all).
    :returns: the engine's name and its :class:`analyses.calling.types.SequenceResult` objects.
    """
    from analyses.calling.engine import call_records
    from analyses.calling.reference import read_genbank
    from analyses.calling.seqio import read_fasta

    reference = read_genbank([GENBANK])
    genbank = itertools.islice(read_fasta(GENOMES_FASTA, bad_records="warn"), genomes)
    recent = itertools.islice(read_fasta(GENOMES_2024_FASTA, bad_records="warn"), genomes)
    records = itertools.chain(synthetic_records(genbank), recent)
    return "analyses.calling.engine", call_records(records, reference, jobs=2)


def build_cache(results: Iterable[Any], engine_name: str, reference: str) -> dict[str, Any]:
    """Turn calling results into the cache document (see module docstring)."""
    metadata = load_metadata()
    nt_index: dict[tuple, int] = {}
    aa_index: dict[tuple, int] = {}
    nt_rows: list[list[Any]] = []
    aa_rows: list[list[Any]] = []
    aa_parents: list[set[int]] = []
    genomes: list[dict[str, Any]] = []
    failed = 0
    for result in results:
        if result.errors or result.replicon is None:
            failed += 1
            continue
        local: dict[int, int] = {}
        nt_ids: list[int] = []
        for i, mut in enumerate(result.nt_mutations):
            kind = _KIND.get(mut.kind)
            if kind is None:
                continue
            key = (mut.replicon, mut.start, mut.end, mut.ref, mut.alt)
            idx = nt_index.get(key)
            if idx is None:
                idx = nt_index[key] = len(nt_rows)
                effects = [[e.cds, e.so_term, e.impact] for e in mut.effects]
                nt_rows.append([*key, kind, mut.label, effects])
            local[i] = idx
            nt_ids.append(idx)
        aa_ids: list[int] = []
        for mut in result.aa_mutations:
            kind = _KIND.get(mut.kind)
            if kind is None or "X" in mut.alt:
                continue
            key = (mut.cds, mut.start, mut.end, mut.ref, mut.alt)
            idx = aa_index.get(key)
            if idx is None:
                idx = aa_index[key] = len(aa_rows)
                aa_rows.append([*key, kind, mut.label, []])
                aa_parents.append(set())
            aa_parents[idx].update(local[p] for p in mut.parents if p in local)
            aa_ids.append(idx)
        meta = metadata.get(result.name) or metadata.get(result.name.split(".")[0]) or {}
        genomes.append(
            {
                "name": result.name,
                "synthetic": result.name.startswith("SYN-"),
                "lineage": meta.get("lineage"),
                "date": meta.get("date"),
                "country": meta.get("country"),
                "length": sum(e - s for s, e in result.covered) or 29903,
                "nt": sorted(set(nt_ids)),
                "aa": sorted(set(aa_ids)),
            }
        )
    for row, parents in zip(aa_rows, aa_parents, strict=True):
        row[7] = sorted(parents)
    logger.info(
        "%d genomes called (%d failed): %d distinct NT, %d distinct AA mutations",
        len(genomes),
        failed,
        len(nt_rows),
        len(aa_rows),
    )
    return {
        "reference": reference,
        "engine": engine_name,
        "genomes": genomes,
        "nt": nt_rows,
        "aa": aa_rows,
    }


def get_profiles(
    reference: str, refresh: bool = False, genomes: int | None = None, out_dir: Path = OUT_DIR
) -> dict[str, Any]:
    """The cached profiles, calling the genomes first when there is no cache (or ``refresh``).

    :param genomes: only the first ``genomes`` of each real set (see :func:`call_results`).
    """
    cache = cache_path(genomes, out_dir)
    if cache.exists() and not refresh:
        return json.loads(cache.read_text())
    started = time.monotonic()
    engine_name, results = call_results(genomes)
    document = build_cache(results, engine_name, reference)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, separators=(",", ":")))
    tmp.replace(cache)
    logger.info(
        "called the real genomes in %.1f s, cached in %s", time.monotonic() - started, cache
    )
    return document
