"""Load N realistic genomes straight into the emgsonar tables with COPY (scale benchmark).

Usage::

    python bench/scale/load.py --n 1000000 [--seed 1] [--database-url postgresql://...]

Steps: create the database if the server lacks it and migrate it (``ensure_database``,
``migrate``: the project's own commands, so a clean machine needs nothing else); make sure the
reference (``MN908947.3``) and the Pango lineages exist; call the genomes of both real sets
once (cached in ``bench/out/profiles.json``, see :mod:`profiles`); build a lineage world from
those calls (:mod:`world`); then replace every sample-side table of the bench database with N
generated samples: ``Sequence``, ``SampleSequence``, ``Alignment`` (mutation id arrays +
``aa_parents``), ``Sample`` (fixed columns + derived ``nt_mutation_ids``/``aa_mutation_ids``),
``SampleProperty`` (``age`` integer, ``sex`` varchar, ``date_of_receipt`` date),
``NucleotideMutation``/``AminoAcidMutation``/``MutationEffect`` and ``MutationCount``; at
the end ``SampleFieldCoverage`` and ``MutationWeekCount`` are recounted from the loaded samples
(:func:`ena_like.services.sample_index.rebuild_coverage`, ``rebuild_week_counts``).

The invariants are the real loader's (see the models' docstrings): a sample's arrays are the
union of its alignments' arrays (here: one alignment per sample), ``MutationCount`` is the exact
number of samples per mutation, ``aa_parents`` maps each AA id to the NT ids of the same
alignment that caused it, ids are int4.

Speed: secondary indexes, unique and foreign-key constraints of the big tables are dropped
before the load and rebuilt afterwards (two connections in parallel); every big table is
truncated and filled with ``COPY ... FREEZE`` in its own transaction on its own connection, so
the five COPY streams are parsed by Postgres while Python generates the next chunk. The dropped
DDL is kept in ``bench/out/pending-ddl-<database>.json`` until it is restored, so an interrupted
load is repaired by the next run. Timings, database size and the loader's peak RSS go to
``bench/out/load-<N>.json`` and the log.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import logging
import platform
import resource
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from common import (
    DEFAULT_DATABASE_URL,
    GENBANK,
    OUT_DIR,
    PANGO_DIR,
    database_name,
    libpq_conninfo,
    setup_django,
)
from psycopg.copy import QueuedLibpqWriter

logger = logging.getLogger("bench.load")

#: tables whose secondary indexes and constraints are dropped around the load
BIG_TABLES = (
    "ena_like_sample",
    "ena_like_sequence",
    "ena_like_samplesequence",
    "analyses_alignment",
    "ena_like_sampleproperty",
)
MUTATION_TABLES = (
    "analyses_mutationeffect",
    "analyses_aminoacidmutation",
    "analyses_nucleotidemutation",
    "analyses_mutationcount",
)
PROPERTIES = (("age", "integer"), ("sex", "varchar"), ("date_of_receipt", "date"))
CHUNK = 20_000
NULL = "\\N"


class Timer:
    """Named phases with wall-clock durations."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self.started = time.monotonic()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time one phase and log it."""
        t0 = time.monotonic()
        logger.info("%s ...", name)
        yield
        self.phases[name] = round(time.monotonic() - t0, 2)
        logger.info("%s: %.1f s", name, self.phases[name])

    @property
    def total(self) -> float:
        return round(time.monotonic() - self.started, 2)


# ---------------------------------------------------------------- reference and lineages


def ensure_reference() -> Any:
    """The SARS-CoV-2 reference row, imported with the project's service when missing."""
    from analyses.calling.reference import read_genbank
    from analyses.models import Reference

    spec = read_genbank([GENBANK])
    found = Reference.objects.filter(accession=spec.accession).first()
    if found is not None:
        return found
    from analyses.services.references import import_reference

    import_reference([GENBANK])
    return Reference.objects.get(accession=spec.accession)


def ensure_lineages(reference: Any) -> Any:
    """The lineage tree of the reference (imported when missing) as :class:`world.Lineages`."""
    from world import Lineages

    from analyses.models import Lineage

    if not Lineage.objects.filter(reference=reference).exists():
        from analyses.services.lineages import import_lineages

        import_lineages(
            reference.accession,
            alias_key=PANGO_DIR / "alias_key.json",
            notes=PANGO_DIR / "lineage_notes.txt",
        )
    names: dict[int, str] = {}
    withdrawn: set[str] = set()
    for pk, name, gone in Lineage.objects.filter(reference=reference).values_list(
        "pk", "name", "withdrawn"
    ):
        names[pk] = name
        if gone:
            withdrawn.add(name)
    parents: dict[str, list[str]] = {n: [] for n in names.values()}
    for child, parent in Lineage.parents.through.objects.filter(
        from_lineage__reference=reference
    ).values_list("from_lineage_id", "to_lineage_id"):
        parents[names[child]].append(names[parent])
    return Lineages(names=sorted(parents), parents=parents, withdrawn=withdrawn)


# ---------------------------------------------------------------- DDL around the load


def capture_ddl(conn: psycopg.Connection) -> dict[str, list[list[str]]]:
    """Secondary indexes, unique and foreign-key constraints touching the big tables."""
    tables = list(BIG_TABLES)
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT c.relname, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
            WHERE c.relname = ANY(%s) AND NOT EXISTS (
                SELECT 1 FROM pg_constraint k
                WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u'))
            ORDER BY 1, 2
            """,
            (tables,),
        )
        indexes = [list(r) for r in cur.fetchall()]
        cur.execute(
            """
            SELECT k.conrelid::regclass::text, k.conname, pg_get_constraintdef(k.oid), k.contype
            FROM pg_constraint k
            WHERE (k.contype = 'u' AND k.conrelid::regclass::text = ANY(%s))
               OR (k.contype = 'f' AND (k.conrelid::regclass::text = ANY(%s)
                                        OR k.confrelid::regclass::text = ANY(%s)))
            ORDER BY k.contype DESC, 1, 2
            """,
            (tables, tables, tables),
        )
        rows = cur.fetchall()
    uniques = [[t, n, d] for t, n, d, kind in rows if kind == "u"]
    fkeys = [[t, n, d] for t, n, d, kind in rows if kind == "f"]
    return {"indexes": indexes, "uniques": uniques, "fkeys": fkeys}


def drop_ddl(conn: psycopg.Connection, ddl: dict[str, list[list[str]]]) -> None:
    """Drop what :func:`capture_ddl` found (foreign keys first)."""
    with conn.transaction(), conn.cursor() as cur:
        for table, name, _ in ddl["fkeys"]:
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT IF EXISTS "{name}"')
        for table, name, _ in ddl["uniques"]:
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT IF EXISTS "{name}"')
        for _, name, _ in ddl["indexes"]:
            cur.execute(f'DROP INDEX IF EXISTS "{name}"')


def _existing(conn: psycopg.Connection) -> tuple[set[str], set[str]]:
    with conn.cursor() as cur:
        cur.execute("SELECT indexrelid::regclass::text FROM pg_index")
        indexes = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT conname FROM pg_constraint")
        constraints = {r[0] for r in cur.fetchall()}
    return indexes, constraints


def _run_parallel(conninfo: str, statements: list[str], workers: int = 2) -> None:
    """Run DDL statements on ``workers`` connections, longest (GIN) first."""
    queue = sorted(statements, key=lambda s: ("gin" not in s.lower(), "UNIQUE" not in s, s))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '3GB'")
            conn.execute("SET max_parallel_maintenance_workers = 0")
            while True:
                with lock:
                    if not queue or errors:
                        return
                    statement = queue.pop(0)
                t0 = time.monotonic()
                try:
                    conn.execute(statement)
                except BaseException as exc:
                    errors.append(exc)
                    return
                logger.info("  %.1f s  %s", time.monotonic() - t0, statement[:110])

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def restore_ddl(conninfo: str, ddl: dict[str, list[list[str]]], pending: Path) -> None:
    """Recreate dropped indexes and constraints (skipping any that exist), then forget them."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        indexes, constraints = _existing(conn)
    first = [d for _, name, d in ddl["indexes"] if name not in indexes]
    first += [
        f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}'
        for t, n, d in ddl["uniques"]
        if n not in constraints
    ]
    _run_parallel(conninfo, first)
    _run_parallel(
        conninfo,
        [
            f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}'
            for t, n, d in ddl["fkeys"]
            if n not in constraints
        ],
    )
    pending.unlink(missing_ok=True)


# ---------------------------------------------------------------- generation


def arr(values: list[int]) -> str:
    """A Postgres array literal of integers."""
    return "{" + ",".join(map(str, values)) + "}"


class SampleWriter:
    """Generates samples chunk by chunk and feeds the five COPY streams."""

    def __init__(
        self,
        world: Any,
        reference_id: int,
        replicon_id: int,
        run_id: int,
        property_ids: dict[str, int],
        seed: int,
    ) -> None:
        from world import (
            COUNTRIES,
            DAYS,
            EPOCH,
            HOST_P,
            HOSTS,
            LABS_PER_COUNTRY,
            REASON_P,
            REASONS,
            SEQ_TECH_P,
            SEQ_TECHS,
            SEX_P,
            SEXES,
        )

        self.world = world
        self.rng = np.random.default_rng(seed + 1)
        self.reference_id = reference_id
        self.replicon_id = replicon_id
        self.run_id = run_id
        self.property_ids = property_ids
        self.days = DAYS
        self.day_text = [(EPOCH + dt.timedelta(days=d)).isoformat() for d in range(DAYS + 400)]
        self.countries = COUNTRIES
        zipf = 1.0 / np.arange(1, len(COUNTRIES) + 1) ** 1.1
        self.country_p = zipf / zipf.sum()
        kinds = ("Public Health Institute", "University Hospital", "Diagnostics", "Genome Centre")
        self.labs = [
            f"{kinds[j]} {country} {chr(65 + j)}"
            for country in COUNTRIES
            for j in range(LABS_PER_COUNTRY)
        ]
        self.labs_per_country = LABS_PER_COUNTRY
        self.hosts, self.host_p = HOSTS, HOST_P
        self.techs, self.tech_p = SEQ_TECHS, SEQ_TECH_P
        self.reasons, self.reason_p = REASONS, REASON_P
        self.sexes, self.sex_p = SEXES, SEX_P
        self.lin_nt = [[int(n) + 1 for n in p] for p in world.lineage_nt]
        self.lin_nt_text = [arr(p) for p in self.lin_nt]
        self.lin_aa_text = [arr([a + 1 for a in p]) for p in world.lineage_aa]
        self.lin_aa_set = [set(p) for p in world.lineage_aa]
        self.lin_parents = [world.aa_of(p.tolist()) for p in world.lineage_nt]
        self.lin_parents_text = [self._parents_json(p) for p in self.lin_parents]
        #: sequence length per lineage, set by :meth:`set_lengths`
        self.lin_length = [29903] * len(world.lineage_nt)
        self.nt_counts = np.zeros(world.n_nt + 1, dtype=np.int64)
        self.aa_counts = np.zeros(world.n_aa + 1, dtype=np.int64)
        self.lineage_counts = np.zeros(len(world.lineage_names), dtype=np.int64)
        self.extra_nt: list[int] = []
        self.extra_aa: list[int] = []
        self.removed_nt: list[int] = []
        self.removed_aa: list[int] = []
        self.property_rows = 0

    @staticmethod
    def _parents_json(parents: dict[int, list[int]]) -> str:
        return json.dumps(
            {str(a + 1): [n + 1 for n in ns] for a, ns in sorted(parents.items())},
            separators=(", ", ": "),
        )

    def set_lengths(self, nt_rows: list[list[Any]]) -> None:
        """Sequence length per lineage: reference length minus deletions plus insertions."""
        delta = []
        for row in nt_rows:
            kind = row[5]
            delta.append(
                -(row[2] - row[1]) if kind == "del" else (len(row[4]) - 1 if kind == "ins" else 0)
            )
        self.nt_delta = np.array([*delta, 0], dtype=np.int32)
        self.lin_length = [29903 + int(self.nt_delta[p].sum()) for p in self.world.lineage_nt]

    def chunk(self, first_id: int, size: int) -> tuple[str, str, str, str, str]:
        """Text for COPY of ``size`` samples with ids ``first_id`` …: sample, sequence,
        samplesequence, alignment, sampleproperty."""
        w, rng = self.world, self.rng
        lin = rng.choice(len(w.lineage_names), size=size, p=w.lineage_p)
        self.lineage_counts += np.bincount(lin, minlength=len(w.lineage_names))
        emerg = w.lineage_emergence[lin]
        day = emerg + rng.exponential(75.0, size).astype(np.int32)
        late = day >= self.days
        day[late] = emerg[late] + (rng.random(late.sum()) * (self.days - emerg[late])).astype(
            np.int32
        )
        no_date = rng.random(size) < 0.01
        no_lineage = rng.random(size) < 0.01
        country = rng.choice(len(self.countries), size=size, p=self.country_p)
        lab = country * self.labs_per_country + rng.choice(
            self.labs_per_country, size=size, p=[0.5, 0.25, 0.15, 0.1]
        )
        host = rng.choice(len(self.hosts), size=size, p=self.host_p)
        tech = rng.choice(len(self.techs), size=size, p=self.tech_p)
        reason = rng.choice(len(self.reasons), size=size, p=self.reason_p)
        reason_missing = rng.random(size) < 0.15
        zip_missing = rng.random(size) < 0.7
        zip_code = rng.integers(10000, 99999, size)
        partial = rng.random(size) < 0.08
        upload_delay = 3 + rng.exponential(20.0, size).astype(np.int32)
        upload_sec = rng.integers(0, 86400, size)
        n_private = rng.poisson(2.0, size)
        private = rng.integers(0, w.n_nt, n_private.sum())
        drop = rng.random(size) < 0.05
        cov_start = rng.integers(0, 80, size)
        cov_end = 29903 - rng.integers(0, 120, size)
        age = rng.integers(0, 100, size)
        has_age = rng.random(size) < 0.8
        sex = rng.choice(len(self.sexes), size=size, p=self.sex_p)
        has_sex = rng.random(size) < 0.7
        receipt = rng.integers(1, 15, size)
        has_receipt = rng.random(size) < 0.6

        samples, sequences, records, alignments, props = [], [], [], [], []
        offset = 0
        pid_age, pid_sex, pid_rec = (self.property_ids[n] for n, _ in PROPERTIES)
        prop_id = self.property_rows
        for i in range(size):
            sid = first_id + i
            li = int(lin[i])
            k = int(n_private[i])
            privs = private[offset : offset + k]
            offset += k
            if k == 0 and not drop[i]:
                nt_text = self.lin_nt_text[li]
                aa_text = self.lin_aa_text[li]
                parents_text = self.lin_parents_text[li]
            else:
                base = self.lin_nt[li]
                nts = set(base)
                if drop[i] and base:
                    gone = base[int(rng.integers(len(base)))]
                    nts.discard(gone)
                    self.removed_nt.append(gone)
                for n in privs:
                    if int(n) + 1 not in nts:
                        nts.add(int(n) + 1)
                        self.extra_nt.append(int(n) + 1)
                nt_sorted = sorted(nts)
                parents = w.aa_of([n - 1 for n in nt_sorted])
                aas = set(parents)
                lin_aa = self.lin_aa_set[li]
                if aas != lin_aa:
                    self.extra_aa.extend(a + 1 for a in aas - lin_aa)
                    self.removed_aa.extend(a + 1 for a in lin_aa - aas)
                nt_text = arr(nt_sorted)
                aa_text = arr(sorted(a + 1 for a in aas))
                parents_text = self._parents_json(parents)
            name = f"BENCH-{sid:08d}"
            d = int(day[i])
            hh, rest = divmod(int(upload_sec[i]), 3600)
            upload = (
                f"{self.day_text[d + int(upload_delay[i])]} {hh:02d}:{rest // 60:02d}:"
                f"{rest % 60:02d}+00"
            )
            c = int(country[i])
            length = self.lin_length[li]
            samples.append(
                f"{sid}\t{name}\t{self.reference_id}\t"
                f"{NULL if no_lineage[i] else w.lineage_names[li]}\t"
                f"{NULL if no_date[i] else self.day_text[d]}\t{self.countries[c]}\t"
                f"{self.hosts[host[i]]}\t{NULL if zip_missing[i] else zip_code[i]}\t"
                f"{self.labs[lab[i]]}\t{self.techs[tech[i]]}\t"
                f"{NULL if reason_missing[i] else self.reasons[reason[i]]}\t"
                f"{'partial' if partial[i] else 'complete'}\tbench\t{length}\t"
                f"{nt_text}\t{aa_text}\t{upload}\t{upload}\t{self.run_id}\t{self.run_id}\n"
            )
            seqhash = hashlib.sha256(name.encode()).hexdigest()
            sequences.append(f"{sid}\t{seqhash}\t{length}\t{upload}\t{self.run_id}\n")
            records.append(f"{sid}\t{name}\t{sid}\t{sid}\t{upload}\t{upload}\t{self.run_id}\n")
            alignments.append(
                f"{sid}\t[{cov_start[i]},{cov_end[i]})\tf\t{{}}\t{nt_text}\t{aa_text}\t"
                f"{parents_text}\tmappy 2.31 asm5\t{upload}\t{self.run_id}\t{sid}\t"
                f"{self.replicon_id}\n"
            )
            if has_age[i]:
                prop_id += 1
                props.append(f"{prop_id}\t{sid}\t{pid_age}\t{age[i]}\t\\N\t\\N\t\\N\t\\N\n")
            if has_sex[i]:
                prop_id += 1
                props.append(
                    f"{prop_id}\t{sid}\t{pid_sex}\t\\N\t\\N\t\\N\t{self.sexes[sex[i]]}\t\\N\n"
                )
            if has_receipt[i] and not no_date[i]:
                prop_id += 1
                props.append(
                    f"{prop_id}\t{sid}\t{pid_rec}\t\\N\t\\N\t"
                    f"{self.day_text[d + int(receipt[i])]}\t\\N\t\\N\n"
                )
        self.property_rows = prop_id
        return (
            "".join(samples),
            "".join(sequences),
            "".join(records),
            "".join(alignments),
            "".join(props),
        )

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Samples per NT and AA mutation id (index = id)."""
        nt = np.zeros(self.world.n_nt + 1, dtype=np.int64)
        aa = np.zeros(self.world.n_aa + 1, dtype=np.int64)
        for li, n in enumerate(self.lineage_counts):
            if n:
                nt[np.asarray(self.lin_nt[li], dtype=np.int64)] += n
                aa[np.asarray([a + 1 for a in self.world.lineage_aa[li]], dtype=np.int64)] += n
        for ids, sign, target in (
            (self.extra_nt, 1, nt),
            (self.removed_nt, -1, nt),
            (self.extra_aa, 1, aa),
            (self.removed_aa, -1, aa),
        ):
            if ids:
                target += sign * np.bincount(np.asarray(ids), minlength=len(target))
        return nt, aa


COPY_SQL = {
    "ena_like_sample": (
        "id, name, reference_id, lineage, collection_date, country, host, zip_code, lab,"
        " sequencing_tech, sequencing_reason, genome_completeness, data_set, length,"
        " nt_mutation_ids, aa_mutation_ids, init_upload_date, last_update_date,"
        " created_by_run_id, updated_by_run_id"
    ),
    "ena_like_sequence": "id, seqhash, length, created, created_by_run_id",
    "ena_like_samplesequence": (
        "id, name, sample_id, sequence_id, created, updated, updated_by_run_id"
    ),
    "analyses_alignment": (
        "id, covered, reverse_complemented, frameshift_cds, nt_mutation_ids, aa_mutation_ids,"
        " aa_parents, aligner, created, import_run_id, sequence_id, replicon_id"
    ),
    "ena_like_sampleproperty": (
        "id, sample_id, property_id, value_integer, value_float, value_date, value_text, value_bool"
    ),
}
STREAM_ORDER = (
    "ena_like_sample",
    "ena_like_sequence",
    "ena_like_samplesequence",
    "analyses_alignment",
    "ena_like_sampleproperty",
)


def copy_mutations(
    conn: psycopg.Connection, profiles: dict[str, Any], replicon_ids: dict[str, int], cds_ids: dict
) -> None:
    """Replace the mutation tables with the distinct calls of the profiles (id = index + 1)."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"TRUNCATE {', '.join(MUTATION_TABLES)} RESTART IDENTITY")
        with cur.copy(
            'COPY analyses_nucleotidemutation (id, replicon_id, kind, start, "end", ref, alt,'
            " label) FROM STDIN"
        ) as copy:
            for i, row in enumerate(profiles["nt"]):
                copy.write_row(
                    (i + 1, replicon_ids[row[0]], row[5], row[1], row[2], *row[3:5], row[6])
                )
        with cur.copy(
            "COPY analyses_mutationeffect (mutation_id, cds_id, seq_ontology, impact) FROM STDIN"
        ) as copy:
            for i, row in enumerate(profiles["nt"]):
                seen = set()
                for cds, so_term, impact in row[7]:
                    key = (cds_ids.get(cds), so_term)
                    if key not in seen:
                        seen.add(key)
                        copy.write_row((i + 1, key[0], so_term, impact))
        with cur.copy(
            'COPY analyses_aminoacidmutation (id, cds_id, kind, start, "end", ref, alt, label)'
            " FROM STDIN"
        ) as copy:
            for i, row in enumerate(profiles["aa"]):
                copy.write_row((i + 1, cds_ids[row[0]], row[5], row[1], row[2], *row[3:5], row[6]))


def copy_counts(
    conn: psycopg.Connection, reference_id: int, nt: np.ndarray, aa: np.ndarray, now: str
) -> int:
    """``MutationCount`` rows for every mutation carried by at least one sample."""
    rows = 0
    with conn.transaction(), conn.cursor() as cur:
        with cur.copy(
            "COPY analyses_mutationcount (reference_id, level, mutation_id, samples, created,"
            " updated) FROM STDIN"
        ) as copy:
            for level, counts in (("nt", nt), ("aa", aa)):
                for mid in np.flatnonzero(counts):
                    copy.write(f"{reference_id}\t{level}\t{mid}\t{counts[mid]}\t{now}\t{now}\n")
                    rows += 1
    return rows


def set_sequences(conn: psycopg.Connection, tables: list[str]) -> None:
    """Move identity sequences past the ids written explicitly."""
    with conn.cursor() as cur:
        for table in tables:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=positive, default=1_000_000, help="number of samples")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--force", action="store_true", help="allow a database without 'bench'")
    parser.add_argument("--refresh-profiles", action="store_true", help="call the genomes again")
    parser.add_argument("--keep-indexes", action="store_true", help="load with indexes in place")
    parser.add_argument(
        "--genomes", type=positive, help="call only the first N genomes of each real set (tests)"
    )
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help="profiles cache, summary")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if "bench" not in database_name(args.database_url) and not args.force:
        parser.error("refusing to replace samples in a database whose name lacks 'bench'")

    setup_django(args.database_url)
    from django.core.management import call_command
    from django.db import connection
    from profiles import get_profiles
    from world import build_world

    from analyses.models import Cds
    from emgsonar.models import ImportRun
    from ena_like.models import Property

    conninfo = libpq_conninfo(args.database_url)
    timer = Timer()
    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    pending = out_dir / f"pending-ddl-{database_name(args.database_url)}.json"
    with timer.phase("create and migrate the database"):
        call_command("ensure_database")
        call_command("migrate", interactive=False, verbosity=0)
    conn = psycopg.connect(conninfo, autocommit=True)
    if pending.exists():
        logger.warning("restoring DDL left over by an interrupted load")
        restore_ddl(conninfo, json.loads(pending.read_text()), pending)

    with timer.phase("reference and lineages"):
        reference = ensure_reference()
        replicon_ids = dict(reference.replicons.values_list("accession", "pk"))
        cds_ids = dict(
            Cds.objects.filter(replicon__reference=reference).values_list("symbol", "pk")
        )
        lineages = ensure_lineages(reference)
    with timer.phase("profiles (real calls, cached)"):
        profiles = get_profiles(
            reference.accession,
            refresh=args.refresh_profiles,
            genomes=args.genomes,
            out_dir=out_dir,
        )
    with timer.phase("lineage world"):
        world = build_world(profiles, lineages, args.seed)
    logger.info("world: %s", world.stats())

    for name, datatype in PROPERTIES:
        Property.objects.update_or_create(name=name, defaults={"datatype": datatype})
    property_ids = dict(Property.objects.values_list("name", "pk"))
    run = ImportRun.objects.create(
        kind=ImportRun.Kind.SAMPLES,
        state=ImportRun.State.RUNNING,
        parameters={"bench": True, "n": args.n, "seed": args.seed},
    )
    connection.close()

    with timer.phase("drop indexes and constraints"):
        ddl = capture_ddl(conn)
        if not args.keep_indexes:
            pending.write_text(json.dumps(ddl, indent=1))
            drop_ddl(conn, ddl)
    with timer.phase("copy mutations"):
        copy_mutations(conn, profiles, replicon_ids, cds_ids)

    writer = SampleWriter(
        world, reference.pk, next(iter(replicon_ids.values())), run.pk, property_ids, args.seed
    )
    writer.set_lengths(profiles["nt"])
    with conn.cursor() as cur:
        cur.execute("TRUNCATE analyses_unknownrange")
        if args.keep_indexes:
            cur.execute(f"TRUNCATE {', '.join(STREAM_ORDER)}")
    freeze = "" if args.keep_indexes else " WITH (FREEZE)"
    with timer.phase("copy samples"), contextlib.ExitStack() as stack:
        streams = {}
        for table in STREAM_ORDER:
            c = stack.enter_context(psycopg.connect(conninfo))
            c.execute("SET synchronous_commit = off")
            if not args.keep_indexes:
                c.execute(f"TRUNCATE {table}")
            cur = stack.enter_context(c.cursor())
            streams[table] = (c, cur)
        copies = {}
        copy_stack = stack.enter_context(contextlib.ExitStack())
        for table in STREAM_ORDER:
            c, cur = streams[table]
            copies[table] = copy_stack.enter_context(
                cur.copy(
                    f"COPY {table} ({COPY_SQL[table]}) FROM STDIN{freeze}",
                    writer=QueuedLibpqWriter(cur),
                )
            )
        done = 0
        t0 = time.monotonic()
        while done < args.n:
            size = min(CHUNK, args.n - done)
            for table, text in zip(STREAM_ORDER, writer.chunk(done + 1, size), strict=True):
                copies[table].write(text)
            done += size
            if done % 100_000 == 0 or done == args.n:
                logger.info("  %d samples generated (%.0f/s)", done, done / (time.monotonic() - t0))
        copy_stack.close()
        for c, _ in streams.values():
            c.commit()
    with timer.phase("mutation counts"):
        nt, aa = writer.counts()
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S+00")
        count_rows = copy_counts(conn, reference.pk, nt, aa, now)
        set_sequences(
            conn,
            [
                *STREAM_ORDER,
                "analyses_nucleotidemutation",
                "analyses_aminoacidmutation",
                "analyses_mutationeffect",
                "analyses_mutationcount",
                "emgsonar_importrun",
            ],
        )
    if not args.keep_indexes:
        with timer.phase("rebuild indexes and constraints"):
            restore_ddl(conninfo, ddl, pending)
    with timer.phase("field coverage"):
        # the maintained per-field coverage (statistics, get_database_info), counted once
        from django.db import connection as django_connection

        from ena_like.services.sample_index import rebuild_coverage

        with django_connection.cursor() as cur:
            rebuild_coverage(cur)
    with timer.phase("mutation week counts"):
        # the weekly plots' pre-aggregate, counted once from the loaded samples
        from ena_like.services.sample_index import rebuild_week_counts

        with django_connection.cursor() as cur:
            cur.execute("SET work_mem = '1GB'")
            rebuild_week_counts(cur)
            cur.execute("RESET work_mem")
    with timer.phase("vacuum analyze"):
        tables = [
            *STREAM_ORDER,
            *MUTATION_TABLES,
            "analyses_lineage",
            "analyses_lineage_parents",
            "ena_like_samplefieldcoverage",
            "ena_like_mutationweekcount",
        ]
        _run_parallel(conninfo, [f"VACUUM (ANALYZE) {t}" for t in tables])
    summary = {
        "n": args.n,
        "seed": args.seed,
        "total_seconds": timer.total,
        "phases": timer.phases,
        "world": world.stats(),
        "property_rows": writer.property_rows,
        "mutation_count_rows": count_rows,
        "profiles_engine": profiles["engine"],
        "python": platform.python_version(),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE emgsonar_importrun SET state = 'completed', summary = %s, started = now(),"
            " finished = now() WHERE id = %s",
            (json.dumps(summary), run.pk),
        )
        cur.execute("SELECT pg_database_size(current_database())")
        summary["database_bytes"] = cur.fetchone()[0]
    conn.close()
    # ru_maxrss is in KiB on Linux: the loader process itself (Postgres backends not included)
    summary["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = out_dir / f"load-{args.n}.json"
    out.write_text(json.dumps(summary, indent=1))
    logger.info(
        "loaded %d samples in %.1f s; database %.2f GB; peak RSS of the loader %.0f MiB -> %s",
        args.n,
        summary["total_seconds"],
        summary["database_bytes"] / 1e9,
        summary["peak_rss_bytes"] / 2**20,
        out,
    )
    return 0


def positive(text: str) -> int:
    """An argparse type: an integer ≥ 1 (``1_000_000`` and ``1e6`` style included)."""
    value = int(float(text.replace("_", "")))
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
