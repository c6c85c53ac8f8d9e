"""A synthetic but realistic world of genomes: lineage profiles, dates, places, labs.

Every lineage of the Pango tree gets a mutation profile: lineages that occur among the real
genomes take the consensus of their real calls (mutations in at least half of them); every other
lineage inherits its (first) parent's profile and adds a few mutations drawn from the pool of
real calls, in tree order, so that ``BA.5.2.1`` carries everything ``BA.5`` carries. Each
lineage also gets an emergence day (real lineages: median real collection date; others: the
parent's plus 15 to 120 days) so that weekly lineage plots show a succession over the five years.

A sample is its lineage profile, rarely minus one call (an N run), plus a few private calls.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: first and last collection day of the simulated five years (the 2024 genomes' real dates)
EPOCH = dt.date(2020, 1, 1)
DAYS = (dt.date(2024, 12, 31) - EPOCH).days + 1

COUNTRIES = (
    "Germany", "United Kingdom", "USA", "Denmark", "France", "Japan", "Canada", "Spain",
    "Switzerland", "Netherlands", "Australia", "Brazil", "India", "Sweden", "Belgium", "Italy",
    "Austria", "Israel", "Norway", "Ireland", "South Africa", "Mexico", "Poland", "Luxembourg",
    "Singapore", "Finland", "Portugal", "Czech Republic", "Slovenia", "Turkey", "Argentina",
    "Peru", "Chile", "Colombia", "Lithuania", "Latvia", "Estonia", "Greece", "Croatia",
    "Romania", "New Zealand", "South Korea", "Thailand", "Indonesia", "Kenya", "Nigeria",
    "Ghana", "Egypt", "Armenia", "Timor-Leste",
)  # fmt: skip
LABS_PER_COUNTRY = 4
SEQ_TECHS = ("Illumina", "Oxford Nanopore", "Ion Torrent", "PacBio")
SEQ_TECH_P = (0.62, 0.28, 0.07, 0.03)
REASONS = ("random", "surveillance", "cluster", "travel", "outbreak", "clinical")
REASON_P = (0.45, 0.25, 0.1, 0.08, 0.07, 0.05)
HOSTS = ("Homo sapiens", "Mustela lutreola", "Felis catus", "Odocoileus virginianus")
HOST_P = (0.995, 0.002, 0.002, 0.001)
SEXES = ("female", "male", "diverse")
SEX_P = (0.5, 0.49, 0.01)


@dataclass
class Lineages:
    """The lineage tree as loaded into the database."""

    names: list[str]
    parents: dict[str, list[str]]
    withdrawn: set[str] = field(default_factory=set)


@dataclass
class World:
    """Everything the sample generator draws from (indices are 0-based profile indices)."""

    lineage_names: list[str]
    lineage_nt: list[np.ndarray]
    lineage_emergence: np.ndarray
    lineage_p: np.ndarray
    nt2aa: list[tuple[int, ...]]
    n_nt: int
    n_aa: int
    real_lineages: int
    #: per-lineage derived data, filled by :meth:`prepare`
    lineage_aa: list[tuple[int, ...]] = field(default_factory=list)

    def aa_of(self, nt: Sequence[int]) -> dict[int, list[int]]:
        """AA mutation index → the NT indexes (of ``nt``) that cause it."""
        parents: dict[int, list[int]] = defaultdict(list)
        for n in nt:
            for a in self.nt2aa[n]:
                parents[a].append(n)
        return parents

    def stats(self) -> dict[str, Any]:
        """Sizes, for the log and RESULTS.md."""
        sizes = np.array([len(p) for p in self.lineage_nt])
        weighted = float((sizes * self.lineage_p).sum())
        return {
            "lineages": len(self.lineage_names),
            "lineages_with_real_genomes": self.real_lineages,
            "distinct_nt_mutations": self.n_nt,
            "distinct_aa_mutations": self.n_aa,
            "nt_per_lineage_profile_mean": round(float(sizes.mean()), 1),
            "nt_per_sample_expected": round(weighted, 1),
        }


def _day(value: str | None) -> int | None:
    if not value or len(value) != 10:
        return None
    try:
        return (dt.date.fromisoformat(value) - EPOCH).days
    except ValueError:
        return None


def _topological(lineages: Lineages) -> list[str]:
    """Names with every (known) parent before its children; cycles broken arbitrarily."""
    known = set(lineages.names)
    pending = {n: sum(1 for p in lineages.parents.get(n, []) if p in known) for n in known}
    children: dict[str, list[str]] = defaultdict(list)
    for child, parents in lineages.parents.items():
        for parent in parents:
            if parent in known:
                children[parent].append(child)
    queue = deque(sorted(n for n, c in pending.items() if c == 0))
    order: list[str] = []
    while queue:
        name = queue.popleft()
        order.append(name)
        for child in sorted(children[name]):
            pending[child] -= 1
            if pending[child] == 0:
                queue.append(child)
    order.extend(sorted(known - set(order)))
    return order


def build_world(profiles: dict[str, Any], lineages: Lineages, seed: int) -> World:
    """Lineage profiles and weights from the real calls and the lineage tree."""
    rng = np.random.default_rng(seed)
    nt_rows = profiles["nt"]
    n_nt, n_aa = len(nt_rows), len(profiles["aa"])
    nt2aa: list[list[int]] = [[] for _ in range(n_nt)]
    for a, row in enumerate(profiles["aa"]):
        for n in row[7]:
            nt2aa[n].append(a)
    nt_start = [row[1] for row in nt_rows]

    by_lineage: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for genome in profiles["genomes"]:
        if genome["lineage"]:
            by_lineage[genome["lineage"]].append(genome)
    consensus: dict[str, list[int]] = {}
    real_days: dict[str, int] = {}
    for name, genomes in by_lineage.items():
        counts: dict[int, int] = defaultdict(int)
        for genome in genomes:
            for n in genome["nt"]:
                counts[n] += 1
        consensus[name] = sorted(n for n, c in counts.items() if 2 * c >= len(genomes))
        days = sorted(d for g in genomes if (d := _day(g["date"])) is not None)
        if days:
            real_days[name] = days[len(days) // 2]

    names = [n for n in _topological(lineages) if n not in lineages.withdrawn]
    profile: dict[str, list[int]] = {}
    emergence: dict[str, int] = {}
    for name in names:
        parent = next((p for p in lineages.parents.get(name, []) if p in profile), None)
        if name in consensus:
            profile[name] = consensus[name]
        else:
            base = list(profile[parent]) if parent else []
            used = {nt_start[n] for n in base}
            for _ in range(1 + int(rng.poisson(1.5))):
                for _attempt in range(10):
                    n = int(rng.integers(n_nt))
                    if nt_start[n] not in used:
                        base.append(n)
                        used.add(nt_start[n])
                        break
            profile[name] = sorted(base)
        if name in real_days:
            emergence[name] = real_days[name]
        else:
            start = emergence.get(parent, 30) if parent else 30
            emergence[name] = start + int(rng.integers(15, 121))
    # squeeze the tree's depth into the five years (real lineages keep their real dates)
    latest = max(emergence.values())
    if latest > DAYS - 45:
        first = min(real_days.values(), default=30)
        scale = (DAYS - 45 - first) / (latest - first)
        for name in names:
            if name not in real_days:
                emergence[name] = first + int((emergence[name] - first) * scale)

    weights = rng.lognormal(0.0, 1.5, len(names))
    for i, name in enumerate(names):
        weights[i] *= 1 + np.log1p(len(by_lineage.get(name, ())))
    world = World(
        lineage_names=names,
        lineage_nt=[np.array(profile[n], dtype=np.int32) for n in names],
        lineage_emergence=np.array([emergence[n] for n in names], dtype=np.int32),
        lineage_p=weights / weights.sum(),
        nt2aa=[tuple(a) for a in nt2aa],
        n_nt=n_nt,
        n_aa=n_aa,
        real_lineages=sum(1 for n in names if n in consensus),
    )
    world.lineage_aa = [tuple(sorted(world.aa_of(p.tolist()))) for p in world.lineage_nt]
    return world


def aa_parents_json(parents: dict[int, list[int]], aa_ids: np.ndarray, nt_ids: np.ndarray) -> str:
    """``Alignment.aa_parents`` as JSON text, with database ids."""
    return json.dumps(
        {str(int(aa_ids[a])): [int(nt_ids[n]) for n in ns] for a, ns in sorted(parents.items())},
        separators=(",", ":"),
    )
