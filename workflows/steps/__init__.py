"""The steps of the ``import_samples`` flow, one module per task, named as the tasks are.

From FASTA records and calling results to rows in Postgres. The flow
(:mod:`workflows.flows.import_samples`) wraps each step in a Prefect task; tests run them in
order through :mod:`tests.helpers.load`:

1. :mod:`.split` streams and validates the whole FASTA (any file-level error aborts before a
   chunk appears), and writes only sequences whose ``seqhash`` is not yet aligned against the
   reference into chunk files, plus a manifest of every record (:mod:`.manifest`);
2. :mod:`.plan` says what the import would change (new samples, records whose sequence would be
   replaced: the flow asks for confirmation then);
3. ``python -m workflows.steps.align_chunk`` per chunk (locally or as a Slurm job) writes
   results; it needs no Django and no Prefect (:mod:`.align_chunk`, reading the reference file
   :mod:`.reference_spec` rebuilt from the database);
4. :mod:`.annotate` upserts the chunk's distinct mutations and effects, returning ids;
5. :mod:`.load` writes sequences, alignments, unknown ranges, samples and records in ONE
   transaction per chunk, and keeps the derived index (``Sample.*_mutation_ids``,
   ``MutationCount``) exact through :func:`ena_like.services.sample_index.refresh_samples`.

Everything is bulk: ``COPY`` through psycopg 3 into the tables or into temporary tables merged
with one set-based statement; no per-row ORM work, no N+1. Loading is idempotent by seqhash and
record name: the same files again change no row. A record whose sequence changed is re-pointed
and its old sequence garbage-collected when no record uses it any more.

This package's ``__init__`` imports nothing: the chunk job imports
:mod:`workflows.steps.align_chunk` on cluster nodes without Django.
"""
