"""Framework-free calling core: GenBank/FASTA input, minimap2 alignment, NT/AA calls, effects.

Public API::

    from analyses.calling import read_genbank, read_fasta, Caller, call_records, parse_label

No Django, Ninja or Prefect imports here (an import-linter contract checks it).
"""

from analyses.calling.engine import Caller, call_records, call_sequence
from analyses.calling.labels import ParsedMutation, parse_label
from analyses.calling.reference import (
    CdsSpec,
    GeneSpec,
    ReferenceSpec,
    RepliconSpec,
    Segment,
    read_genbank,
)
from analyses.calling.seqio import FastaRecord, read_fasta
from analyses.calling.types import AaMutation, Effect, NtMutation, SequenceResult, UnknownAa

__all__ = [
    "AaMutation",
    "Caller",
    "CdsSpec",
    "Effect",
    "FastaRecord",
    "GeneSpec",
    "NtMutation",
    "ParsedMutation",
    "ReferenceSpec",
    "RepliconSpec",
    "Segment",
    "SequenceResult",
    "UnknownAa",
    "call_records",
    "call_sequence",
    "parse_label",
    "read_fasta",
    "read_genbank",
]
