"""The stored lineage graph, read: names resolved and sublineages walked, for the query side.

The filter compiler's ``includeSublineages`` and the lineage endpoints read the graph through
here; :mod:`analyses.services.lineages` writes it (and calls :func:`forget_graph`). The whole
edge list of a reference (≤ ~6,000 lineages) is loaded once per process and walked in Python,
which beats a recursive CTE per request; a one-row version check reloads it when another
process imported lineages.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

from analyses.lineages import walk_descendants
from analyses.models import Lineage
from emgsonar.errors import NotFoundError

LINEAGE = Lineage._meta.db_table
EDGE = Lineage.parents.through._meta.db_table


@dataclass(frozen=True)
class LineageGraph:
    """One reference's lineage graph as loaded (a snapshot: one version check per request)."""

    version: tuple
    children: dict[str, tuple[str, ...]]
    names: frozenset[str]
    by_full_name: dict[str, str]
    by_upper: dict[str, str]

    def resolve(self, names: Iterable[str]) -> tuple[dict[str, str], list[str]]:
        """Map user-given names to stored lineage names (exact, case-insensitive, or unaliased
        full name such as ``B.1.1.529.5`` for ``BA.5``).

        :returns: (given → stored name, unknown names).
        """
        found: dict[str, str] = {}
        unknown: list[str] = []
        for given in names:
            name = given.strip()
            stored = (
                name
                if name in self.names
                else self.by_upper.get(name.upper()) or self.by_full_name.get(name.upper())
            )
            if stored is None:
                unknown.append(given)
            else:
                found[given] = stored
        return found, unknown

    def descendants(
        self, names: Iterable[str], include_self: bool = True, *, strict: bool = False
    ) -> set[str]:
        """All lineages descending from ``names`` (several parents allowed: recombinants
        included).

        :param include_self: include the given lineages themselves.
        :param strict: raise on a name the reference does not know; otherwise an unknown name
            stands for itself (samples may carry lineages no tree lists yet).
        :raises NotFoundError: unknown names under ``strict``.
        """
        names = [n for n in names if n and n.strip()]
        found, unknown = self.resolve(names)
        if unknown and strict:
            raise NotFoundError(
                "unknown lineage(s): " + ", ".join(unknown),
                hint="Import the lineage tree with import_lineage, or check the spelling",
            )
        result = walk_descendants(self.children, found.values(), include_self=include_self)
        if include_self:
            result.update(n.strip() for n in unknown)
        return result


_CACHE: dict[int, LineageGraph] = {}
_LOCK = threading.Lock()


def _version(reference_id: int) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT (SELECT count(*) FROM {LINEAGE} WHERE reference_id = %s),
                   (SELECT max(id) FROM {LINEAGE} WHERE reference_id = %s),
                   (SELECT count(*) FROM {EDGE} e JOIN {LINEAGE} l ON l.id = e.from_lineage_id
                    WHERE l.reference_id = %s),
                   (SELECT max(e.id) FROM {EDGE} e JOIN {LINEAGE} l ON l.id = e.from_lineage_id
                    WHERE l.reference_id = %s)
            """,
            [reference_id] * 4,
        )
        return tuple(cursor.fetchone())


def lineage_graph(reference_id: int) -> LineageGraph:
    """The reference's graph, reloaded when the stored one changed (one version query).

    Callers that resolve and walk several times for one request keep the snapshot instead of
    asking again: each call costs a version query."""
    version = _version(reference_id)
    cached = _CACHE.get(reference_id)
    if cached is not None and cached.version == version:
        return cached
    with _LOCK:
        rows = list(
            Lineage.objects.filter(reference_id=reference_id).values_list("id", "name", "full_name")
        )
        name_of = {row[0]: row[1] for row in rows}
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT e.from_lineage_id, e.to_lineage_id FROM {EDGE} e "
                f"JOIN {LINEAGE} l ON l.id = e.from_lineage_id WHERE l.reference_id = %s",
                [reference_id],
            )
            edges = cursor.fetchall()
        children: dict[str, list[str]] = {}
        for child, parent in edges:
            children.setdefault(name_of[parent], []).append(name_of[child])
        graph = LineageGraph(
            version=version,
            children={k: tuple(v) for k, v in children.items()},
            names=frozenset(name_of.values()),
            by_full_name={row[2]: row[1] for row in rows if row[2]},
            by_upper={row[1].upper(): row[1] for row in rows},
        )
        _CACHE[reference_id] = graph
        return graph


def resolve_lineage_names(
    reference_id: int, names: Iterable[str]
) -> tuple[dict[str, str], list[str]]:
    """:meth:`LineageGraph.resolve` on the reference's current graph."""
    return lineage_graph(reference_id).resolve(names)


def descendants(
    reference_id: int, names: Iterable[str], include_self: bool = True, *, strict: bool = False
) -> set[str]:
    """:meth:`LineageGraph.descendants` on the reference's current graph."""
    return lineage_graph(reference_id).descendants(names, include_self, strict=strict)


def forget_graph(reference_id: int) -> None:
    """Drop the cached graph of a reference (after this process wrote it), so the next read
    loads it even if the version check could not tell (same counts and largest ids)."""
    _CACHE.pop(reference_id, None)
