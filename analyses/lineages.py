"""Lineage nomenclatures as parent/child graphs: parsers for sonar's TSV and Pango's files.

Pure (no database): :mod:`analyses.services.lineages` writes what these return, and
:mod:`analyses.lineage_graph` reads the stored graph back.

Two inputs:

- sonar's TSV (``lineage_import``): columns ``lineage`` and ``sublineage``; ``sublineage`` holds
  comma-separated children (``lineages_test.tsv``) or one child per row (the full 2025_09 tree),
  ``none`` for a lineage without children. The file says who the children are, nothing about
  aliases or descriptions.
- Pango's ``alias_key.json`` + ``lineage_notes.txt`` (pango-designation): every designated
  lineage with its description, ``*``-prefixed ones withdrawn. A lineage's parent is derived
  from its unaliased name (``BA.5.3.1`` = ``B.1.1.529.5.3.1`` → ``B.1.1.529.5.3`` = ``BA.5.3``),
  going further up when an intermediate name was never designated; a recombinant root
  (``XBB``) gets the parents listed in the alias key (``BJ.1``, ``BM.1.1.1``; a trailing ``*``
  there means "or a descendant" and is dropped).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from analyses.calling.compression import open_text
from emgsonar.errors import InputFormatError


@dataclass(frozen=True)
class LineageRecord:
    """One lineage: ``full_name`` is the alias-expanded name ('' when unknown)."""

    name: str
    full_name: str = ""
    description: str = ""
    withdrawn: bool = False
    parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class AliasRecord:
    """A Pango alias prefix: ``BA`` → ``B.1.1.529``; a recombinant lists its parents instead."""

    alias: str
    expansion: str = ""
    recombinant_parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class LineageSet:
    """A parsed nomenclature.

    :param parents_defined: lineages whose parent set this input defines; the parents of the
        others (named only as a parent in a TSV) are left as stored.
    :param details_defined: the input carries full names, descriptions and withdrawn flags
        (Pango), so stored ones are replaced; a TSV leaves them alone.
    """

    lineages: dict[str, LineageRecord]
    parents_defined: frozenset[str]
    details_defined: bool
    aliases: tuple[AliasRecord, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def edges(self) -> set[tuple[str, str]]:
        """(child, parent) pairs."""
        return {(rec.name, p) for rec in self.lineages.values() for p in rec.parents}


def _clean(name: str) -> str:
    return name.strip().strip("\ufeff")


def parse_lineage_tsv(path: Path) -> LineageSet:
    """Read sonar's ``lineage``/``sublineage`` TSV (plain or compressed).

    :raises InputFormatError: no such columns, or no row.
    """
    parents: dict[str, list[str]] = {}
    order: dict[str, None] = {}
    path = Path(path)
    with open_text(path) as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = [_clean(h).lower() for h in next(reader, [])]
        if "lineage" not in header or "sublineage" not in header:
            raise InputFormatError(
                "lineage file must have the columns 'lineage' and 'sublineage'",
                path=path,
                value=header,
                hint="Give sonar's lineage TSV, or Pango's alias_key.json and lineage_notes.txt",
            )
        lin_col, sub_col = header.index("lineage"), header.index("sublineage")
        rows = 0
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            rows += 1
            parent = _clean(cells[lin_col]) if lin_col < len(cells) else ""
            if not parent or parent.lower() == "none":
                continue
            order.setdefault(parent)
            children = cells[sub_col] if sub_col < len(cells) else ""
            for child in (_clean(c) for c in children.split(",")):
                if not child or child.lower() == "none":
                    continue
                order.setdefault(child)
                if child != parent and parent not in parents.setdefault(child, []):
                    parents[child].append(parent)
    if not rows:
        raise InputFormatError("lineage file has no rows", path=path)
    lineages = {
        name: LineageRecord(name=name, parents=tuple(parents.get(name, ()))) for name in order
    }
    return LineageSet(lineages, frozenset(parents), details_defined=False)


def read_alias_key(path: Path) -> dict[str, str | list[str]]:
    """Read Pango's ``alias_key.json``.

    :raises InputFormatError: not a JSON object of strings or string lists.
    """
    path = Path(path)
    with open_text(path) as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as exc:
            raise InputFormatError(f"alias key is not JSON ({exc.msg})", path=path) from exc
    if not isinstance(data, dict) or not all(
        isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
        for v in data.values()
    ):
        raise InputFormatError(
            "alias key must map each alias to a name or to a list of parent lineages", path=path
        )
    return data


def read_lineage_notes(path: Path) -> list[tuple[str, str, bool]]:
    """Read Pango's ``lineage_notes.txt``: (name, description, withdrawn) per line.

    :raises InputFormatError: no ``Lineage`` header or no lineage.
    """
    path = Path(path)
    notes: list[tuple[str, str, bool]] = []
    with open_text(path) as handle:
        first = handle.readline()
        if not first.lower().startswith("lineage"):
            raise InputFormatError(
                "lineage notes must start with a 'Lineage<TAB>Description' header", path=path
            )
        for line in handle:
            name, _, description = line.rstrip("\r\n").partition("\t")
            name = name.strip()
            if not name:
                continue
            withdrawn = name.startswith("*")
            notes.append((name.lstrip("*").strip(), description.strip(), withdrawn))
    if not notes:
        raise InputFormatError("lineage notes list no lineage", path=path)
    return notes


def expand_name(name: str, alias_key: Mapping[str, str | list[str]]) -> str | None:
    """The unaliased name (``BA.5.3`` → ``B.1.1.529.5.3``); ``None`` for an unknown alias.

    >>> expand_name("BQ.1", {"BQ": "B.1.1.529.5.3.1.1.1.1", "B": ""})
    'B.1.1.529.5.3.1.1.1.1.1'
    >>> expand_name("EG.5.1", {"EG": "XBB.1.9.2", "XBB": ["BJ.1", "BM.1.1.1"]})
    'XBB.1.9.2.5.1'
    """
    for _ in range(20):  # alias chains are short; the bound guards against a cyclic key
        head, _, rest = name.partition(".")
        expansion = alias_key.get(head)
        if expansion is None:
            return None
        if not isinstance(expansion, str) or expansion == "":
            return name  # A, B and recombinants are roots of their own names
        name = f"{expansion}.{rest}" if rest else expansion
    return None


def parse_pango(alias_key_path: Path, notes_path: Path) -> LineageSet:
    """Read Pango's alias key and lineage notes into one graph (see the module docstring)."""
    alias_key = read_alias_key(alias_key_path)
    notes = read_lineage_notes(notes_path)
    return build_pango(alias_key, notes)


def build_pango(
    alias_key: Mapping[str, str | list[str]], notes: Iterable[tuple[str, str, bool]]
) -> LineageSet:
    """Build the graph from an already-read alias key and notes (pure, for tests)."""
    warnings: list[str] = []
    info: dict[str, tuple[str, bool]] = {}
    for name, description, withdrawn in notes:
        if name in info and not info[name][1]:
            continue  # a designated entry wins over a withdrawn duplicate
        info[name] = (description, withdrawn)
    full: dict[str, str] = {}
    for name in info:
        expanded = expand_name(name, alias_key)
        if expanded is None:
            warnings.append(f"lineage {name}: alias {name.split('.')[0]!r} not in the alias key")
            expanded = name
        full[name] = expanded
    by_full = {}
    for name, expanded in full.items():
        if expanded not in by_full or info[by_full[expanded]][1]:
            by_full[expanded] = name
    lineages: dict[str, LineageRecord] = {}
    extra: dict[str, None] = {}
    for name, (description, withdrawn) in info.items():
        parents = _pango_parents(name, full[name], alias_key, by_full)
        for parent in parents:
            if parent not in info:
                extra.setdefault(parent)
        lineages[name] = LineageRecord(name, full[name], description, withdrawn, parents)
    for name in extra:  # recombinant parents never designated themselves: keep the edge
        warnings.append(f"lineage {name} is a recombinant parent but not in the notes")
        lineages[name] = LineageRecord(name, expand_name(name, alias_key) or "")
    aliases = tuple(
        AliasRecord(alias, value, ())
        if isinstance(value, str)
        else AliasRecord(alias, "", tuple(dict.fromkeys(v.rstrip("*") for v in value)))
        for alias, value in alias_key.items()
    )
    return LineageSet(lineages, frozenset(info), True, aliases, tuple(warnings))


def _pango_parents(
    name: str, expanded: str, alias_key: Mapping[str, str | list[str]], by_full: dict[str, str]
) -> tuple[str, ...]:
    parts = expanded.split(".")
    if len(parts) == 1:
        value = alias_key.get(parts[0])
        if isinstance(value, list):
            return tuple(dict.fromkeys(v.rstrip("*").strip() for v in value if v.strip()))
        return ()
    for cut in range(len(parts) - 1, 0, -1):
        parent = by_full.get(".".join(parts[:cut]))
        if parent is not None and parent != name:
            return (parent,)
    return ()


def walk_descendants(
    children: Mapping[str, Iterable[str]], roots: Iterable[str], *, include_self: bool = True
) -> set[str]:
    """Every name reachable from ``roots`` through ``children`` (cycles are harmless).

    >>> sorted(walk_descendants({"B": ["B.1", "BA.1"], "BA.1": ["XE"], "BA.2": ["XE"]}, ["BA.1"]))
    ['BA.1', 'XE']
    """
    seen: set[str] = set()
    stack = list(roots)
    start = set(stack)
    while stack:
        node = stack.pop()
        for child in children.get(node, ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen | start if include_self else seen
