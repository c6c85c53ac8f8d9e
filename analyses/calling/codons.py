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
    except KeyError:
        raise ReferenceDataError(f"unknown translation table {table_id}", value=table_id)
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


# BLOSUM62, used to place the merged codon of an in-frame deletion (calling.md).
_BLOSUM_ORDER = "ARNDCQEGHILKMFPSTWYV"
_BLOSUM_ROWS = """
 4 -1 -2 -2  0 -1 -1  0 -2 -1 -1 -1 -1 -2 -1  1  0 -3 -2  0
-1  5  0 -2 -3  1  0 -2  0 -3 -2  2 -1 -3 -2 -1 -1 -3 -2 -3
-2  0  6  1 -3  0  0  0  1 -3 -3  0 -2 -3 -2  1  0 -4 -2 -3
-2 -2  1  6 -3  0  2 -1 -1 -3 -4 -1 -3 -3 -1  0 -1 -4 -3 -3
 0 -3 -3 -3  9 -3 -4 -3 -3 -1 -1 -3 -1 -2 -3 -1 -1 -2 -2 -1
-1  1  0  0 -3  5  2 -2  0 -3 -2  1  0 -3 -1  0 -1 -2 -1 -2
-1  0  0  2 -4  2  5 -2  0 -3 -3  1 -2 -3 -1  0 -1 -3 -2 -2
 0 -2  0 -1 -3 -2 -2  6 -2 -4 -4 -2 -3 -3 -2  0 -2 -2 -3 -3
-2  0  1 -1 -3  0  0 -2  8 -3 -3 -1 -2 -1 -2 -1 -2 -2  2 -3
-1 -3 -3 -3 -1 -3 -3 -4 -3  4  2 -3  1  0 -3 -2 -1 -3 -1  3
-1 -2 -3 -4 -1 -2 -3 -4 -3  2  4 -2  2  0 -3 -2 -1 -2 -1  1
-1  2  0 -1 -3  1  1 -2 -1 -3 -2  5 -1 -3 -1  0 -1 -3 -2 -2
-1 -1 -2 -3 -1  0 -2 -3 -2  1  2 -1  5  0 -2 -1 -1 -1 -1  1
-2 -3 -3 -3 -2 -3 -3 -3 -1  0  0 -3  0  6 -4 -2 -2  1  3 -1
-1 -2 -2 -1 -3 -1 -1 -2 -2 -3 -3 -1 -2 -4  7 -1 -1 -4 -3 -2
 1 -1  1  0 -1  0  0  0 -1 -2 -2  0 -1 -2 -1  4  1 -3 -2 -2
 0 -1  0 -1 -1 -1 -1 -2 -2 -1 -1 -1 -1 -2 -1  1  5 -2 -2  0
-3 -3 -4 -4 -2 -2 -3 -2 -2 -3 -2 -3 -1  1 -4 -3 -2 11  2 -3
-2 -2 -2 -3 -2 -1 -2 -3  2 -1 -1 -2 -1  3 -3 -2 -2  2  7 -1
 0 -3 -3 -3 -1 -2 -2 -3 -3  3  1 -2  1 -1 -2 -2  0 -3 -1  4
"""
BLOSUM62: dict[tuple[str, str], int] = {
    (a, b): int(v)
    for a, row in zip(_BLOSUM_ORDER, _BLOSUM_ROWS.split("\n")[1:-1], strict=True)
    for b, v in zip(_BLOSUM_ORDER, row.split(), strict=True)
}


def blosum62(a: str, b: str) -> int:
    """BLOSUM62 score; stop, ``X`` and unusual residues score -4 against anything else."""
    if a == b:
        return BLOSUM62.get((a, b), 1)
    return BLOSUM62.get((a, b), -4)
