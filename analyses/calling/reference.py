"""Read GenBank references into framework-free, frozen specs.

One import = one reference; every GenBank record (over all files given) becomes one replicon.
The Django ``import_reference`` command and the calling engine both start from
:class:`ReferenceSpec`, so everything a caller needs (segments in translation order, strand,
table, protein) is here and checked: a CDS whose ``/translation`` does not match its sequence is
an error, not a silent surprise later in every amino-acid call.

Coordinates are 0-based and half-open throughout; error messages say positions 1-based.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from Bio import BiopythonParserWarning, SeqIO
from Bio.SeqFeature import SeqFeature
from Bio.SeqRecord import SeqRecord

from analyses.calling.codons import codon_table, reverse_complement, start_codons, translate
from analyses.calling.compression import open_text
from emgsonar.errors import EmgsonarError, InputFormatError, ReferenceDataError

logger = logging.getLogger(__name__)

_AA3 = {
    "Ala": "A", "Arg": "R", "Asn": "N", "Asp": "D", "Cys": "C", "Gln": "Q", "Glu": "E",
    "Gly": "G", "His": "H", "Ile": "I", "Leu": "L", "Lys": "K", "Met": "M", "Phe": "F",
    "Pro": "P", "Ser": "S", "Thr": "T", "Trp": "W", "Tyr": "Y", "Val": "V", "Sec": "U",
    "Pyl": "O", "TERM": "*", "Ter": "*", "OTHER": "X", "Xaa": "X",
}  # fmt: skip
_TRANSL_EXCEPT = re.compile(r"\(pos:\s*(?:complement\()?(\d+)(?:\.\.(\d+))?\)?\s*,\s*aa:\s*(\w+)\)")


@dataclass(frozen=True)
class Segment:
    """One part of a CDS/gene on its replicon (0-based, half-open)."""

    start: int
    end: int
    strand: int

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class GeneSpec:
    """A ``gene`` feature; 0-based half-open span."""

    symbol: str
    locus_tag: str | None
    description: str | None
    start: int
    end: int
    strand: int


@dataclass(frozen=True)
class CdsSpec:
    """A ``CDS`` feature, checked against its ``/translation``.

    ``symbol`` is unique within the reference: ``/gene``, else ``/locus_tag``, else ``/product``;
    a symbol that occurs again (ebola's three GP CDS, hMPV's two M2) gets ``_2``, ``_3`` … in
    file order, because amino-acid labels (``GP_2:D5G``) must name one CDS.
    """

    symbol: str
    gene_symbol: str | None
    locus_tag: str | None
    protein_id: str | None
    product: str | None
    strand: int
    segments: tuple[Segment, ...]
    translation: str
    transl_table: int = 1
    codon_start: int = 1
    #: accession of the replicon the CDS lies on
    replicon: str = ""
    #: the CDS is incomplete at its 5' (``<``) / 3' (``>``) end
    partial_5: bool = False
    partial_3: bool = False

    @property
    def nt_length(self) -> int:
        """Nucleotides over all segments (a base read twice by ribosomal slippage counts twice)."""
        return sum(seg.end - seg.start for seg in self.segments)

    @property
    def start(self) -> int:
        """Leftmost replicon position covered (0-based)."""
        return min(seg.start for seg in self.segments)

    @property
    def end(self) -> int:
        """Rightmost replicon position covered (0-based, exclusive)."""
        return max(seg.end for seg in self.segments)


@dataclass(frozen=True)
class RepliconSpec:
    """One GenBank record."""

    accession: str
    description: str
    organism: str | None
    molecule_type: str | None
    topology: str | None
    sequence: str
    genes: tuple[GeneSpec, ...]
    cds: tuple[CdsSpec, ...]
    #: file the record came from (for messages; not part of the content hash)
    source_path: str = ""
    #: length from the LOCUS line; equals ``len(sequence)`` unless the record has no sequence
    length: int = 0

    @property
    def has_sequence(self) -> bool:
        """False for annotation-only records (no ORIGIN data): importable, not alignable."""
        return bool(self.sequence)


@dataclass(frozen=True)
class ReferenceSpec:
    """A whole reference: one or more replicons."""

    accession: str
    description: str
    organism: str | None
    replicons: tuple[RepliconSpec, ...]
    content_hash: str

    def replicon(self, accession: str) -> RepliconSpec:
        """The replicon with this accession (``accession.version`` or bare accession).

        :raises ReferenceDataError: no such replicon.
        """
        for replicon in self.replicons:
            if accession in (replicon.accession, replicon.accession.split(".")[0]):
                return replicon
        raise ReferenceDataError(
            f"reference {self.accession} has no replicon {accession}",
            hint="Known replicons: " + ", ".join(r.accession for r in self.replicons),
        )

    @property
    def all_cds(self) -> tuple[CdsSpec, ...]:
        return tuple(cds for replicon in self.replicons for cds in replicon.cds)


def read_genbank(paths: Sequence[Path]) -> ReferenceSpec:
    """Read one reference from one or more GenBank files (plain or compressed).

    :param paths: files in order; the first record's ``accession.version`` names the reference.
    :raises InputFormatError: a file is not GenBank, is truncated, or holds no record.
    :raises ReferenceDataError: a CDS whose ``/translation`` does not match its sequence (the
        message names file, record, CDS and first mismatching residue), or a record accession
        that occurs twice.
    """
    if not paths:
        raise InputFormatError("no GenBank file given")
    replicons: list[RepliconSpec] = []
    seen: dict[str, str] = {}
    used_symbols: dict[str, int] = {}
    for path in map(Path, paths):
        for record in _parse_records(path):
            replicon = _replicon(record, path, used_symbols)
            if replicon.accession in seen:
                raise ReferenceDataError(
                    f"record accession {replicon.accession} occurs twice "
                    f"(also in {seen[replicon.accession]})",
                    path=path,
                    record_id=replicon.accession,
                    hint="Give each GenBank record once",
                )
            seen[replicon.accession] = str(path)
            replicons.append(replicon)
    first = replicons[0]
    return ReferenceSpec(
        accession=first.accession,
        description=first.description,
        organism=first.organism,
        replicons=tuple(replicons),
        content_hash=_content_hash(replicons),
    )


def _parse_records(path: Path) -> list[SeqRecord]:
    """Parse every record of a file; turn Biopython's exceptions into :class:`InputFormatError`."""
    with open_text(path) as handle:
        text = handle.read()
    if not text.lstrip().startswith("LOCUS"):
        raise InputFormatError(
            "not a GenBank file: it does not start with a LOCUS line",
            path=path,
            hint="Give a GenBank flat file (.gb/.gbk), e.g. from NCBI 'Send to > File > GenBank'",
        )
    if text.count("LOCUS ") != len(re.findall(r"^//\s*$", text, flags=re.MULTILINE)):
        raise InputFormatError(
            "truncated GenBank file: a record does not end with '//'",
            path=path,
            hint="Download or copy the file again",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BiopythonParserWarning)
            records = list(SeqIO.parse(io.StringIO(text), "genbank"))
    except EmgsonarError:
        raise
    except Exception as exc:  # Biopython raises ValueError, IndexError, ... on broken files
        raise InputFormatError(f"broken GenBank file ({exc})", path=path) from exc
    if not records:
        raise InputFormatError("GenBank file holds no record", path=path)
    for record in records:
        if len(record.seq) == 0:
            raise InputFormatError("GenBank record of length 0", path=path, record_id=record.id)
        if not record.seq.defined:
            logger.warning(
                "%s: record '%s' has no sequence data (empty ORIGIN): features are imported "
                "unchecked and the replicon cannot be used for calling",
                path,
                record.id,
            )
    return records


def _qualifier(feature: SeqFeature, key: str) -> str | None:
    values = feature.qualifiers.get(key)
    return values[0] if values else None


def _replicon(record: SeqRecord, path: Path, used_symbols: dict[str, int]) -> RepliconSpec:
    sequence = str(record.seq).upper() if record.seq.defined else ""
    accession = record.id
    genes: list[GeneSpec] = []
    cds_list: list[CdsSpec] = []
    gene_spans: list[tuple[int, int, str]] = []
    for feature in record.features:
        if "pseudo" in feature.qualifiers or "pseudogene" in feature.qualifiers:
            continue
        if feature.type == "gene":
            symbol = _qualifier(feature, "gene") or _qualifier(feature, "locus_tag")
            if symbol is None:
                continue
            start, end = int(feature.location.start), int(feature.location.end)
            genes.append(
                GeneSpec(
                    symbol=symbol,
                    locus_tag=_qualifier(feature, "locus_tag"),
                    description=_qualifier(feature, "note") or _qualifier(feature, "product"),
                    start=start,
                    end=end,
                    strand=feature.location.strand or 1,
                )
            )
            gene_spans.append((start, end, symbol))
        elif feature.type == "CDS":
            cds_list.append(_cds(feature, record, sequence, path, used_symbols, gene_spans))
    annotations = record.annotations
    return RepliconSpec(
        accession=accession,
        description=record.description,
        organism=annotations.get("organism"),
        molecule_type=annotations.get("molecule_type"),
        topology=annotations.get("topology"),
        sequence=sequence,
        genes=tuple(genes),
        cds=tuple(cds_list),
        source_path=str(path),
        length=len(record.seq),
    )


def _cds(
    feature: SeqFeature,
    record: SeqRecord,
    sequence: str,
    path: Path,
    used_symbols: dict[str, int],
    gene_spans: list[tuple[int, int, str]],
) -> CdsSpec:
    location = feature.location
    # Biopython lists the parts of complement(join(...)) in biological (translation) order.
    segments = tuple(
        Segment(int(part.start), int(part.end), part.strand or 1) for part in location.parts
    )
    strand = segments[0].strand
    gene = _qualifier(feature, "gene")
    locus_tag = _qualifier(feature, "locus_tag")
    product = _qualifier(feature, "product")
    protein_id = _qualifier(feature, "protein_id")
    base_symbol = gene or locus_tag or product or protein_id or f"CDS_{int(location.start) + 1}"
    count = used_symbols.get(base_symbol, 0) + 1
    used_symbols[base_symbol] = count
    symbol = base_symbol if count == 1 else f"{base_symbol}_{count}"
    gene_symbol = gene
    if gene_symbol is None and locus_tag is not None:
        gene_symbol = next((s for a, b, s in gene_spans if s == locus_tag), None)
    table = int(_qualifier(feature, "transl_table") or 1)
    codon_start = int(_qualifier(feature, "codon_start") or 1)
    partial_5 = "<" in str(location.parts[0].start if strand == 1 else location.parts[0].end)
    partial_3 = ">" in str(location.parts[-1].end if strand == 1 else location.parts[-1].start)
    given = _qualifier(feature, "translation")
    if sequence:
        nt = "".join(
            sequence[s.start : s.end]
            if s.strand == 1
            else reverse_complement(sequence[s.start : s.end])
            for s in segments
        )
        computed = _translate_cds(feature, nt, segments, table, codon_start, partial_5)
        translation = (given or computed.rstrip("*")).replace(" ", "")
        _check_translation(translation, computed, path, record.id, symbol)
    else:  # annotation-only record: nothing to check against
        translation = (given or "").replace(" ", "")
    return CdsSpec(
        symbol=symbol,
        gene_symbol=gene_symbol,
        locus_tag=locus_tag,
        protein_id=protein_id,
        product=product,
        strand=strand,
        segments=segments,
        translation=translation,
        transl_table=table,
        codon_start=codon_start,
        replicon=record.id,
        partial_5=partial_5,
        partial_3=partial_3,
    )


def cds_offset(segments: Sequence[Segment], position: int) -> int | None:
    """0-based offset in the CDS nucleotide sequence of replicon ``position`` (first match).

    :returns: ``None`` when the position is not in the CDS.
    """
    offset = 0
    for seg in segments:
        if seg.start <= position < seg.end:
            if seg.strand == 1:
                return offset + position - seg.start
            return offset + seg.end - 1 - position
        offset += seg.end - seg.start
    return None


def _translate_cds(
    feature: SeqFeature,
    nt: str,
    segments: Sequence[Segment],
    table_id: int,
    codon_start: int,
    partial_5: bool,
) -> str:
    """Translate like NCBI: alternative start codons read as M, ``/transl_except`` applied."""
    coding = nt[codon_start - 1 :]
    protein = list(translate(coding, codon_table(table_id)))
    if protein and not partial_5 and codon_start == 1 and coding[:3] in start_codons(table_id):
        protein[0] = "M"
    for value in feature.qualifiers.get("transl_except", []):
        match = _TRANSL_EXCEPT.search(value)
        if match is None:
            continue
        first = int(match.group(1)) - 1
        last = int(match.group(2) or match.group(1)) - 1
        aa = _AA3.get(match.group(3), "X")
        offsets = [
            o for o in (cds_offset(segments, first), cds_offset(segments, last)) if o is not None
        ]
        if not offsets:
            continue
        index = (min(offsets) - (codon_start - 1)) // 3
        if index == len(protein):
            protein.append(aa)  # a stop completed by polyadenylation
        elif 0 <= index < len(protein):
            protein[index] = aa
    return "".join(protein)


def _check_translation(given: str, computed: str, path: Path, record_id: str, symbol: str) -> None:
    """Compare ``/translation`` with our translation; ``X`` on either side matches anything."""
    body = computed[: len(given)]
    for index, (a, b) in enumerate(zip(given, body, strict=False)):
        if a != b and a != "X" and b != "X":
            raise ReferenceDataError(
                f"CDS '{symbol}': /translation has {a!r} at residue {index + 1} but the "
                f"nucleotide sequence translates to {b!r}",
                path=path,
                record_id=record_id,
                hint="Fix the CDS location or /translation, or remove the CDS feature",
            )
    if len(body) < len(given):
        raise ReferenceDataError(
            f"CDS '{symbol}': /translation has {len(given)} residues but the nucleotide "
            f"sequence gives only {len(body)}",
            path=path,
            record_id=record_id,
            hint="Fix the CDS location or /translation, or remove the CDS feature",
        )
    rest = computed[len(given) :]
    if rest and rest[0] != "*":
        raise ReferenceDataError(
            f"CDS '{symbol}': /translation ends at residue {len(given)} but the nucleotide "
            f"sequence does not end with a stop codon there (next residue {rest[0]!r})",
            path=path,
            record_id=record_id,
            hint="Fix the CDS location or /translation, or remove the CDS feature",
        )


def _content_hash(replicons: Sequence[RepliconSpec]) -> str:
    """SHA-256 of a canonical JSON of accessions, sequences and features (not file names)."""
    canonical = [
        {
            "accession": r.accession,
            "sequence": r.sequence,
            "length": r.length,
            "genes": [[g.symbol, g.locus_tag, g.start, g.end, g.strand] for g in r.genes],
            "cds": [
                [
                    c.symbol,
                    c.gene_symbol,
                    c.locus_tag,
                    c.protein_id,
                    c.strand,
                    [[s.start, s.end, s.strand] for s in c.segments],
                    c.translation,
                    c.transl_table,
                    c.codon_start,
                ]
                for c in r.cds
            ],
        }
        for r in replicons
    ]
    blob = json.dumps(canonical, separators=(",", ":"), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()
