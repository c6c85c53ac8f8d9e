"""Codon tables with IUPAC ambiguity resolution, shared by the reference reader and the caller.

Why our own tables instead of ``Bio.Seq.translate``: calling translates a handful of codons per
sequence thousands of times a second, and needs the rule of calling.md for ambiguous codons
(the amino acid if every resolution gives the same one, else ``X``). A dict lookup per codon
does both in one step.
"""

from __future__ import annotations

from functools import cache
from itertools import product

from Bio.Data import CodonTable

from emgsonar.errors import ReferenceDataError

#: IUPAC nucleotide codes and the bases each stands for.
IUPAC_BASES: dict[str, str] = {
    "A": "A",
    "C": "C",
    "G": "G",
    "T": "T",
    "R": "AG",
    "Y": "CT",
    "S": "CG",
    "W": "AT",
    "K": "GT",
    "M": "AC",
    "B": "CGT",
    "D": "AGT",
    "H": "ACT",
    "V": "ACG",
    "N": "ACGT",
}

_COMPLEMENT = str.maketrans("ACGTRYSWKMBDHVNacgtryswkmbdhvn", "TGCAYRSWMKVHDBNtgcayrswmkvhdbn")


def reverse_complement(seq: str) -> str:
    """Reverse complement of an IUPAC nucleotide string (ambiguity codes complemented too)."""
    return seq.translate(_COMPLEMENT)[::-1]


@cache
def codon_table(table_id: int) -> dict[str, str]:
    """Map every IUPAC codon (3,375 of them) to its amino acid for an NCBI translation table.

    Stop is ``*``; a codon whose resolutions disagree is ``X``. Cached: one dict per table per
    process.

    :param table_id: NCBI translation table number (1 standard, 11 bacterial, ...).
    :raises ReferenceDataError: the table number is unknown.
    """
    try:
        table = CodonTable.unambiguous_dna_by_id[table_id]
    except KeyError:  # the lookup's KeyError says nothing the message does not
        raise ReferenceDataError(f"unknown translation table {table_id}", value=table_id) from None
    concrete = dict(table.forward_table)
    for stop in table.stop_codons:
        concrete[stop] = "*"
    result: dict[str, str] = {}
    for a, b, c in product(IUPAC_BASES, repeat=3):
        aas = {
            concrete.get(x + y + z, "X")
            for x in IUPAC_BASES[a]
            for y in IUPAC_BASES[b]
            for z in IUPAC_BASES[c]
        }
        result[a + b + c] = aas.pop() if len(aas) == 1 else "X"
    return result


@cache
def start_codons(table_id: int) -> frozenset[str]:
    """Codons that start translation (read as ``M`` at the first position of a CDS)."""
    return frozenset(CodonTable.unambiguous_dna_by_id[table_id].start_codons)


def translate(nt: str, table: dict[str, str]) -> str:
    """Translate whole codons of ``nt`` (a trailing partial codon is ignored).

    >>> translate("ATGGCRTAA", codon_table(1))
    'MA*'
    """
    get = table.get
    return "".join([get(nt[i : i + 3], "X") for i in range(0, len(nt) - 2, 3)])
