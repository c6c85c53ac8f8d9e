"""Mutation labels: formatting and parsing (sonar notation, api.md).

Labels are 1-based; storage is 0-based half-open. This module is the only place that converts
between the two for mutations, so the caller, the database loader and the query API agree.

=================  =========================  =====================================
kind               label                      storage (start, end, ref, alt)
=================  =========================  =====================================
NT substitution    ``A23403G``                (23402, 23403, 'A', 'G')
NT deletion        ``del:11288-11296``        (11287, 11296, deleted bases, '')
NT insertion       ``T22204TGAGCCAGAA``       (22203, 22204, 'T', 'TGAGCCAGAA')
NT ins. at start   ``.0.ACG``                 (0, 0, '', 'ACG')
AA substitution    ``S:D614G``                (613, 614, 'D', 'G')
AA deletion        ``S:del:69-70``            (68, 70, 'HV', '')
AA insertion       ``S:R214REPE``             (213, 214, 'R', 'REPE')
=================  =========================  =====================================
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from emgsonar.errors import InputFormatError

_NT = "ACGTRYSWKMBDHVNacgtryswkmbdhvn"
_AA = "ACDEFGHIKLMNPQRSTVWYUOXBZJacdefghiklmnpqrstvwyuoxbzj*"
_DEL = re.compile(r"^del:(\d+)(?:-(\d+))?$")
_SUB_NT = re.compile(rf"^([{_NT}])(\d+)([{_NT}])$")
_INS_NT = re.compile(rf"^([{_NT}.])(\d+)\1([{_NT}]+)$")
#: ``A29903NNNN``: bases after an anchor, not repeating it, holding N or other IUPAC codes —
#: an insertion of unknown sequence (never called, so it matches nothing; not a bad label)
_INS_NT_UNKNOWN = re.compile(rf"^([{_NT}])(\d+)([{_NT}]*[RYSWKMBDHVNryswkmbdhvn][{_NT}]*)$")
_SUB_AA = re.compile(rf"^([{re.escape(_AA)}])(\d+)([{re.escape(_AA)}])$")
_INS_AA = re.compile(rf"^([{re.escape(_AA)}])(\d+)\1([{re.escape(_AA)}]+)$")


def _prefix(replicon: str | None) -> str:
    return f"{replicon}:" if replicon else ""


def nt_substitution_label(ref: str, start: int, alt: str, replicon: str | None = None) -> str:
    """``A23403G`` from 0-based ``start``."""
    return f"{_prefix(replicon)}{ref}{start + 1}{alt}"


def nt_deletion_label(start: int, end: int, replicon: str | None = None) -> str:
    """``del:11288-11296`` (inclusive, 1-based) from 0-based half-open ``[start, end)``."""
    if end - start == 1:
        return f"{_prefix(replicon)}del:{start + 1}"
    return f"{_prefix(replicon)}del:{start + 1}-{end}"


def nt_insertion_label(anchor: str, start: int, alt: str, replicon: str | None = None) -> str:
    """``T22204TGAGCCAGAA`` from the anchor position; empty anchor means before base 1 (``.0.``)."""
    if not anchor:
        return f"{_prefix(replicon)}.0.{alt}"
    return f"{_prefix(replicon)}{anchor}{start + 1}{alt}"


def aa_substitution_label(cds: str, ref: str, start: int, alt: str) -> str:
    return f"{cds}:{ref}{start + 1}{alt}"


def aa_deletion_label(cds: str, start: int, end: int) -> str:
    if end - start == 1:
        return f"{cds}:del:{start + 1}"
    return f"{cds}:del:{start + 1}-{end}"


def aa_insertion_label(cds: str, anchor: str, start: int, alt: str) -> str:
    return f"{cds}:{anchor}{start + 1}{alt}"


@dataclass(frozen=True)
class ParsedMutation:
    """A parsed label, with storage coordinates (0-based half-open).

    :param molecule: ``nt`` or ``aa``.
    :param kind: ``substitution``, ``deletion`` or ``insertion``.
    :param replicon: replicon prefix, if any.
    :param gene: CDS/gene prefix of an amino-acid label.
    :param ref: reference base/residue (deletions: ``None``, the length is ``end - start``;
        insertion at the start: ``''``).
    :param alt: as written; for insertions anchor + inserted. Case is kept: ``N``/``X`` are
        wildcards, ``n``/``x`` literal (see :attr:`wildcard`).
    """

    text: str
    molecule: str
    kind: str
    start: int
    end: int
    ref: str | None
    alt: str
    replicon: str | None = None
    gene: str | None = None

    @property
    def wildcard(self) -> bool:
        """True for ``N`` (NT) / ``X`` (AA) alt: matches any base/residue."""
        return self.kind == "substitution" and self.alt == ("N" if self.molecule == "nt" else "X")


def parse_label(text: str, genes: Collection[str] | None = None) -> ParsedMutation:
    """Parse any mutation label of api.md.

    A single prefix is a gene symbol first (api.md): with ``genes`` given, a prefix in it makes
    an amino-acid label and any other prefix a replicon; without ``genes``, a single prefix is
    taken as a gene. Two prefixes are replicon then gene.

    >>> d = parse_label("del:21992-21994")
    >>> (d.kind, d.start, d.end)
    ('deletion', 21991, 21994)
    >>> parse_label("S:D614G").gene
    'S'
    >>> parse_label("NC_026433.1:A5G", genes={"HA"}).replicon
    'NC_026433.1'

    :raises InputFormatError: not a mutation label.
    """
    stripped = text.strip()
    parts = stripped.split(":")
    # "del:..." is the only label with a colon of its own
    if len(parts) >= 2 and parts[-2] == "del":
        body = "del:" + parts[-1]
        prefixes = parts[:-2]
    else:
        body = parts[-1]
        prefixes = parts[:-1]
    if len(prefixes) > 2 or any(not p for p in prefixes):
        raise _bad(text)
    replicon = gene = None
    if len(prefixes) == 2:
        replicon, gene = prefixes
    elif len(prefixes) == 1:
        if genes is None or prefixes[0] in genes:
            gene = prefixes[0]
        else:
            replicon = prefixes[0]
    molecule = "aa" if gene else "nt"
    match = _DEL.match(body)
    if match:
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if first < 1 or last < first:
            raise _bad(text)
        return ParsedMutation(
            stripped, molecule, "deletion", first - 1, last, None, "", replicon, gene
        )
    sub, ins = (_SUB_AA, _INS_AA) if molecule == "aa" else (_SUB_NT, _INS_NT)
    match = sub.match(body)
    if match and int(match.group(2)) >= 1:
        pos = int(match.group(2)) - 1
        return ParsedMutation(
            stripped, molecule, "substitution", pos, pos + 1, match.group(1), match.group(3),
            replicon, gene,
        )  # fmt: skip
    match = ins.match(body)
    if match:
        anchor, pos = match.group(1), int(match.group(2))
        if anchor == ".":
            if pos != 0:
                raise _bad(text)
            return ParsedMutation(
                stripped, molecule, "insertion", 0, 0, "", match.group(3), replicon, gene
            )
        if pos < 1:
            raise _bad(text)
        return ParsedMutation(
            stripped, molecule, "insertion", pos - 1, pos, anchor, anchor + match.group(3),
            replicon, gene,
        )  # fmt: skip
    match = _INS_NT_UNKNOWN.match(body) if molecule == "nt" else None
    if match and int(match.group(2)) >= 1 and len(match.group(3)) > 1:
        anchor, pos = match.group(1), int(match.group(2))
        return ParsedMutation(
            stripped, molecule, "insertion", pos - 1, pos, anchor, anchor + match.group(3),
            replicon, gene,
        )  # fmt: skip
    raise _bad(text)


def _bad(text: str) -> InputFormatError:
    return InputFormatError(
        "not a mutation label",
        value=text,
        hint="Write e.g. A23403G, del:21765-21770, T22204TGAGCCAGAA, S:D614G, S:del:69-70, "
        "S:R214REPE (positions 1-based)",
    )
