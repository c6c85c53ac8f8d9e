"""Compile a filter tree into one SQL predicate on ``ena_like_sample``.

Every condition becomes an index-friendly predicate on the sample row, so a filtered count or
page is one statement with no per-sample Python:

- mutations → ``nt_mutation_ids @> ARRAY[ids]`` (all exact mutations of a profile in one
  containment test) or ``&& ARRAY[ids]`` (wildcards ``N``/``X``, several CDS of one gene), on
  the ``gin__int_ops`` GIN indexes; the ids come from one lookup per level
  (:meth:`FilterCompiler._prepare`);
- literal ``n``/``x`` (no data at that position) → ``EXISTS`` on ``UnknownRange`` (GiST);
- effects (``Annotation``) → ``nt_mutation_ids && ARRAY(SELECT mutation_id …)`` (an InitPlan,
  still a GIN scan);
- custom properties → ``EXISTS`` on ``(property, value_<type>)``; each condition its own
  ``EXISTS``, so two ANDed property conditions must hold on their own rows, and ``exclude`` is
  ``NOT EXISTS`` (positive condition false *or* value missing);
- fixed columns → the column itself; ``exclude`` keeps rows where the column is NULL;
- lineages → ``lineage IN (set)`` with the set expanded from the hierarchy beforehand.

Validation against the database (known properties, lineages, replicons, CDS) happens while
compiling, with a fixed small number of lookups per request.
"""

import operator
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property, reduce
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db.backends.postgresql.psycopg_any import NumericRange
from django.db.models import Case, Exists, IntegerField, OuterRef, Q, Value, When
from django.db.models.lookups import Exact, GreaterThanOrEqual

from analyses.calling.labels import ParsedMutation, parse_label
from analyses.lineage_graph import LineageGraph, lineage_graph
from analyses.models import (
    Alignment,
    AminoAcidMutation,
    Cds,
    MutationEffect,
    MutationKind,
    NucleotideMutation,
    QcStatus,
    Reference,
    UnknownRange,
)
from emgsonar.errors import EmgsonarError
from ena_like.fields import SAMPLE_FIELDS, FieldSpec, ValueType, property_spec
from ena_like.filters.errors import (
    BadMutationError,
    FilterError,
    RepliconRequiredError,
    UnknownLineageError,
    UnknownPropertyError,
)
from ena_like.filters.tree import (
    AnnotationCondition,
    Condition,
    FilterNode,
    InsertionPatternCondition,
    LineageCondition,
    MaybeCondition,
    MutationCondition,
    NOfCondition,
    ProfileCondition,
    PropertyCondition,
    ReferenceCondition,
    RepliconCondition,
    SampleCondition,
    parse_filters,
)
from ena_like.filters.values import typed_value
from ena_like.models import Property, Sample, SampleProperty

NOTHING = Q(pk__in=[])

_KIND = {"SNP": "substitution", "Del": "deletion", "Ins": "insertion"}


class _LazySymbols:
    """Gene/CDS symbols answering ``in`` case-insensitively, loaded on the first question (a
    label without prefix never asks, so it costs no query)."""

    def __init__(self, load: Callable[[], Iterable[str]]) -> None:
        self._load = load
        self._folded: set[str] | None = None

    def _symbols(self) -> set[str]:
        if self._folded is None:
            self._folded = {s.casefold() for s in self._load()}
        return self._folded

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and item.casefold() in self._symbols()

    def __iter__(self) -> Iterator[str]:
        return iter(self._symbols())

    def __len__(self) -> int:
        return len(self._symbols())


@dataclass
class _Target:
    """Where a parsed mutation lives: a replicon (NT) or some CDS (AA)."""

    parsed: ParsedMutation
    replicon_id: int | None = None
    cds_ids: tuple[int, ...] = ()

    @property
    def level(self) -> str:
        return self.parsed.molecule

    @property
    def literal_unknown(self) -> bool:
        return self.parsed.kind == "substitution" and self.parsed.alt == (
            "n" if self.level == "nt" else "x"
        )

    def q(self) -> Q:
        """Rows of the mutation table this query means (exact or wildcard)."""
        p = self.parsed
        where = (
            Q(replicon_id=self.replicon_id) if self.level == "nt" else Q(cds_id__in=self.cds_ids)
        )
        if p.wildcard:
            # any single base/residue but the unknown one itself
            unknown = "N" if self.level == "nt" else "X"
            return (
                where
                & Q(start=p.start, end=p.end, ref=(p.ref or "").upper(), alt__regex=r"^[A-Z*]$")
                & ~Q(alt=unknown)
            )
        if p.kind == "deletion":
            return where & Q(start=p.start, end=p.end, alt="")
        return where & Q(start=p.start, end=p.end, ref=(p.ref or "").upper(), alt=p.alt.upper())

    def matches(self, row: dict) -> bool:
        p = self.parsed
        if self.level == "nt" and row["replicon_id"] != self.replicon_id:
            return False
        if self.level == "aa" and row["cds_id"] not in self.cds_ids:
            return False
        if (row["start"], row["end"]) != (p.start, p.end):
            return False
        if p.wildcard:
            unknown = "N" if self.level == "nt" else "X"
            return (
                row["ref"] == (p.ref or "").upper()
                and len(row["alt"]) == 1
                and row["alt"] != unknown
            )
        if p.kind == "deletion":
            return row["alt"] == ""
        return row["ref"] == (p.ref or "").upper() and row["alt"] == p.alt.upper()


@dataclass
class _Term:
    """One mutation of a profile, compiled: ``ids`` (any of them) or an unknown-range test."""

    target: _Target
    ids: set[int] = field(default_factory=set)


class FilterCompiler:
    """Compile :class:`FilterNode` trees for one reference into ``Q`` objects on ``Sample``."""

    def __init__(self, reference: Reference) -> None:
        self.reference = reference

    # --- reference data, each loaded at most once per request --------------------------
    @cached_property
    def lineages(self) -> LineageGraph:
        return lineage_graph(self.reference.pk)

    @cached_property
    def replicons(self) -> dict[str, int]:
        return dict(self.reference.replicons.values_list("accession", "id"))

    @cached_property
    def _cds(self) -> list[dict]:
        return list(
            Cds.objects.filter(replicon__reference=self.reference).values(
                "id", "symbol", "replicon_id", "gene__symbol"
            )
        )

    @cached_property
    def gene_symbols(self) -> _LazySymbols:
        return _LazySymbols(self._gene_names)

    @cached_property
    def properties(self) -> dict[str, Property]:
        return {p.name: p for p in Property.objects.all()}

    # --- tree ---------------------------------------------------------------------------
    def compile(self, node: FilterNode) -> Q:
        """``(condition AND and-items) OR or-items``; an empty tree matches every sample."""
        self._prepare(node)
        return self._node(node)

    def _node(self, node: FilterNode) -> Q:
        conjuncts: list[Q] = []
        if node.condition is not None:
            conjuncts.append(self._condition(node.condition))
        conjuncts.extend(self._node(child) for child in node.and_ if not child.is_empty())
        disjuncts: list[Q] = []
        if conjuncts:
            both = conjuncts[0]
            for item in conjuncts[1:]:
                both &= item
            disjuncts.append(both)
        disjuncts.extend(self._node(child) for child in node.or_ if not child.is_empty())
        if not disjuncts:
            return Q()
        result = disjuncts[0]
        for item in disjuncts[1:]:
            result |= item
        return result

    def _condition(self, cond: Condition) -> Q:
        handlers: dict[type, Callable[[Any], Q]] = {
            ProfileCondition: self._profile,
            MutationCondition: self._mutation,
            PropertyCondition: self._property,
            LineageCondition: self._lineages,
            SampleCondition: self._samples,
            RepliconCondition: self._replicon,
            ReferenceCondition: self._reference,
            AnnotationCondition: self._annotation,
            NOfCondition: self._n_of,
            MaybeCondition: self._maybe,
            InsertionPatternCondition: self._insertion_pattern,
        }
        # the first class of the condition's MRO with a handler (the six mutation labels
        # share MutationCondition's)
        q = next(handlers[c] for c in type(cond).__mro__ if c in handlers)(cond)
        return ~q if cond.exclude else q

    # --- mutations ----------------------------------------------------------------------
    def _prepare(self, node: FilterNode) -> None:
        """Resolve every mutation of the tree to ids with one query per level."""
        texts: list[tuple[str, str | None]] = []

        def walk(n: FilterNode) -> None:
            c = n.condition
            if isinstance(c, ProfileCondition):
                texts.extend((m, None) for m in c.mutations())
            elif isinstance(c, MutationCondition):
                texts.append((c.mutation(), c.label))
            elif isinstance(c, MaybeCondition):
                texts.append((c.value.strip(), None))
            elif isinstance(c, NOfCondition):
                for item in c.nodes:
                    walk(item)
            for child in (*n.and_, *n.or_):
                walk(child)

        walk(node)
        self._terms: dict[tuple[str, str | None], _Term] = {}
        for text, label in texts:
            if (text, label) not in self._terms:
                self._terms[(text, label)] = _Term(self._target(text, label))
        for level, model, columns in (
            ("nt", NucleotideMutation, ("id", "replicon_id", "start", "end", "ref", "alt")),
            ("aa", AminoAcidMutation, ("id", "cds_id", "start", "end", "ref", "alt")),
        ):
            terms = [
                t
                for t in self._terms.values()
                if t.target.level == level and not t.target.literal_unknown
            ]
            if not terms:
                continue
            where = terms[0].target.q()
            for term in terms[1:]:
                where |= term.target.q()
            for row in model.objects.filter(where).values(*columns):
                for term in terms:
                    if term.target.matches(row):
                        term.ids.add(row["id"])

    def _target(self, text: str, label: str | None) -> _Target:
        # sonar's responses mark frameshifting indels ``del:28271*fs``; the mutation is the
        # same with or without the mark, so a copied label queries as the bare one
        bare = text.strip().removesuffix("*fs")
        try:
            parsed = parse_label(bare, genes=self.gene_symbols)
        except EmgsonarError as exc:
            raise self._unparsable(text, bare, exc) from None
        target = _Target(parsed)
        replicon_id = None
        if parsed.replicon is not None:
            replicon_id = self.replicons.get(parsed.replicon)
            if replicon_id is None and parsed.gene is not None:
                raise BadMutationError(
                    f"'{text}': unknown replicon '{parsed.replicon}' for reference "
                    f"{self.reference.accession}",
                    hint=f"Replicons: {_listing(self.replicons)}",
                )
            if replicon_id is None:
                raise BadMutationError(
                    f"'{text}': '{parsed.replicon}' is neither a replicon nor a gene of "
                    f"reference {self.reference.accession}",
                    hint=self._prefix_hint(),
                )
        if label is not None:
            kind, molecule = label.split()
            if parsed.kind != _KIND[kind] or parsed.molecule != molecule.lower():
                raise BadMutationError(f"'{text}' is not a mutation of the kind '{label}'")
        if parsed.molecule == "nt":
            if replicon_id is None:
                example = f"{min(self.replicons, default='ACC')}:{text}"
                replicon_id = self._only_replicon(text, f"Prefix it, e.g. {example}")
            target.replicon_id = replicon_id
            return target
        target.cds_ids = self._cds_for(parsed.gene or "", replicon_id, text)
        return target

    def _cds_for(self, symbol: str, replicon_id: int | None, text: str) -> tuple[int, ...]:
        """CDS ids of a prefix: CDS symbol first, then gene symbol; case-insensitive fallback."""
        rows = [c for c in self._cds if replicon_id is None or c["replicon_id"] == replicon_id]
        for same in (lambda a, b: a == b, lambda a, b: a.casefold() == b.casefold()):
            found = tuple(c["id"] for c in rows if same(c["symbol"], symbol))
            if found:
                return found
            found = tuple(
                c["id"] for c in rows if c["gene__symbol"] and same(c["gene__symbol"], symbol)
            )
            if found:
                return found
        raise BadMutationError(
            f"'{text}': unknown gene or CDS '{symbol}' for reference {self.reference.accession}",
            hint=f"Genes: {_listing(self._gene_names(replicon_id))}",
        )

    def _gene_names(self, replicon_id: int | None = None) -> set[str]:
        """The symbols a mutation prefix may name (CDS and gene symbols, as stored)."""
        rows = [c for c in self._cds if replicon_id is None or c["replicon_id"] == replicon_id]
        return {c["symbol"] for c in rows} | {c["gene__symbol"] for c in rows if c["gene__symbol"]}

    def _only_replicon(self, text: str, hint: str) -> int:
        """The reference's one replicon, for a mutation that names none.

        :raises RepliconRequiredError: the reference has several (or none).
        """
        if len(self.replicons) != 1:
            raise RepliconRequiredError(
                f"'{text}': reference {self.reference.accession} has "
                f"{len(self.replicons)} replicons; say which one",
                hint=hint,
            )
        return next(iter(self.replicons.values()))

    def _prefix_hint(self) -> str:
        return (
            f"Genes of {self.reference.accession}: {_listing(self._gene_names())}; "
            f"replicons: {_listing(self.replicons)}"
        )

    def _unparsable(self, text: str, bare: str, exc: EmgsonarError) -> BadMutationError:
        """Why ``text`` is no mutation: a well-formed AA label whose prefix is no gene of the
        reference (``Spike:L452R``) names the genes; anything else is a bad string."""
        try:
            # without gene list a single prefix is read as a gene
            as_gene = parse_label(bare)
        except EmgsonarError:
            as_gene = None
        # (two prefixes parse the same either way, so only a single prefix gets here)
        if as_gene is not None and as_gene.gene is not None:
            return BadMutationError(
                f"'{text}': unknown gene '{as_gene.gene}' for reference {self.reference.accession}",
                hint=self._prefix_hint(),
            )
        return BadMutationError(
            f"bad mutation string '{text}'",
            hint=(exc.hint or "See api.md, mutation syntax").capitalize(),
        )

    def single_mutation(self) -> tuple[str, int] | None:
        """``(level, id)`` when the compiled tree was exactly one exact, stored mutation (the
        case ``MutationCount`` answers without touching the sample table)."""
        terms = list(getattr(self, "_terms", {}).values())
        if len(terms) != 1 or terms[0].target.literal_unknown or len(terms[0].ids) != 1:
            return None
        return terms[0].target.level, next(iter(terms[0].ids))

    # --- lookups for other readers (ena_like.analytics): the same resolution as filters --
    def resolve_mutations(
        self, texts: list[str]
    ) -> list[tuple[str, int, int, int, tuple[int, ...]]]:
        """Per label, ``(level, replicon or CDS id, start, end, stored ids)``, resolved as a
        filter resolves it (one lookup per level; 0-based half-open span; a wildcard has several
        ids, a mutation never seen none).

        :raises BadMutationError: unparsable, unknown prefix, a gene of several CDS, ``n``/``x``.
        """
        self._prepare(
            parse_filters({"andFilter": [{"label": "DNA/AA Profile", "value": t} for t in texts]})
        )
        result = []
        for text in texts:
            target = self._terms[(text, None)].target
            if target.literal_unknown or len(target.cds_ids) > 1:
                several = len(target.cds_ids) > 1
                raise BadMutationError(
                    f"'{text}' names "
                    + ("a gene of several CDS" if several else "no call (n/x is unknown data)"),
                    hint="Name the CDS" if several else "Name the base or residue",
                )
            part = target.replicon_id if target.level == "nt" else target.cds_ids[0]
            assert part is not None
            p = target.parsed
            ids = tuple(sorted(self._terms[(text, None)].ids))
            result.append((target.level, part, p.start, p.end, ids))
        return result

    def replicon_id(self, accession: str) -> int:
        """The id of a replicon of the reference. :raises FilterError: unknown, listing them."""
        found = self.replicons.get(accession.strip().strip("\"'"))
        if found is None:
            raise FilterError(
                f"unknown replicon '{accession}' for reference {self.reference.accession}",
                hint=f"Replicons: {_listing(self.replicons)}",
            )
        return found

    def cds_ids(self, symbol: str) -> tuple[int, ...]:
        """CDS ids of a CDS or gene symbol, as a mutation prefix resolves them.

        :raises BadMutationError: unknown symbol, listing the genes."""
        return self._cds_for(symbol.strip(), None, symbol)

    def _term_q(self, term: _Term) -> Q:
        target = term.target
        if target.literal_unknown:
            span = UnknownRange.objects.filter(
                alignment__sequence__records__sample=OuterRef("pk"),
                level=target.level,
                span__contains=target.parsed.start,
            )
            if target.level == "nt":
                span = span.filter(alignment__replicon_id=target.replicon_id)
            else:
                span = span.filter(cds_id__in=target.cds_ids)
            return Q(Exists(span))
        column = f"{target.level}_mutation_ids"
        if not term.ids:
            return NOTHING
        if len(term.ids) == 1:
            return Q(**{f"{column}__contains": sorted(term.ids)})
        return Q(**{f"{column}__overlap": sorted(term.ids)})

    def _all_of(self, terms: list[_Term]) -> Q:
        """All mutations required: exact single ids share one ``@>`` per level."""
        result = Q()
        exact: dict[str, list[int]] = {"nt": [], "aa": []}
        for term in terms:
            if not term.target.literal_unknown and len(term.ids) == 1:
                exact[term.target.level].extend(term.ids)
            else:
                q = self._term_q(term)
                if q is NOTHING:
                    return NOTHING
                result &= q
        for level, ids in exact.items():
            if ids:
                result &= Q(**{f"{level}_mutation_ids__contains": sorted(set(ids))})
        return result

    def _profile(self, cond: ProfileCondition) -> Q:
        mutations = cond.mutations()
        if not mutations:
            raise FilterError("'DNA/AA Profile' needs at least one mutation in 'value'")
        return self._all_of([self._terms[(m, None)] for m in mutations])

    def _mutation(self, cond: MutationCondition) -> Q:
        return self._all_of([self._terms[(cond.mutation(), cond.label)]])

    # --- the query language's conditions (N-of, MAYBE, insertion patterns) ---------------
    def _n_of(self, cond: NOfCondition) -> Q:
        """At least (exactly) ``n`` items hold: the number of true items, one ``CASE`` each,
        compared with ``n``; behind an OR of the items (indexable) when ``n >= 1``. The ends
        need no counting: all of them is an AND, none of them a NOR."""
        items = [self._node(node) for node in cond.nodes]
        n = cond.n
        if n > len(items):
            return NOTHING
        any_of = reduce(operator.or_, items)
        if n == 0:
            return ~any_of if cond.exactly else Q()
        if n == len(items) or (n == 1 and not cond.exactly):
            return reduce(operator.and_, items) if n == len(items) else any_of
        true = [Case(When(q, then=Value(1)), default=Value(0)) for q in items]
        hits = reduce(operator.add, true)
        compare = Exact if cond.exactly else GreaterThanOrEqual
        return any_of & Q(compare(hits, Value(n, output_field=IntegerField())))

    def _maybe(self, cond: MaybeCondition) -> Q:
        """The mutation, or no data over its span: no alignment of the sample to the replicon
        whose covered range holds the span without an unknown range (N run, gap; for AA the
        unknown residues, which include those outside the covered range) overlapping it."""
        term = self._terms[(cond.value.strip(), None)]
        target = term.target
        if target.parsed.kind == "insertion":
            raise BadMutationError(
                f"MAYBE takes a substitution or deletion, not the insertion '{cond.value}'",
                hint="Ask for the anchor base, e.g. MAYBE(T22204N) is no data there",
            )
        span = NumericRange(target.parsed.start, target.parsed.end)
        alignments = Alignment.objects.filter(sequence__records__sample=OuterRef("pk"))
        unknown = UnknownRange.objects.filter(
            alignment=OuterRef("pk"), level=target.level, span__overlap=span
        )
        if target.level == "nt":
            alignments = alignments.filter(replicon_id=target.replicon_id, covered__contains=span)
        else:
            if len(target.cds_ids) != 1:
                raise BadMutationError(
                    f"MAYBE({cond.value}): '{target.parsed.gene}' is a gene of several CDS",
                    hint="Name the CDS",
                )
            cds = target.cds_ids[0]
            replicon = next(c["replicon_id"] for c in self._cds if c["id"] == cds)
            alignments = alignments.filter(replicon_id=replicon)
            unknown = unknown.filter(cds_id=cds)
        readable = alignments.filter(~Exists(unknown))
        return self._term_q(term) | ~Q(Exists(readable))

    def _insertion_pattern(self, cond: InsertionPatternCondition) -> Q:
        """Insertions after that position whose inserted sequence matches the pattern: their
        ids from one lookup, then the samples holding any of them (GIN)."""
        pattern = cond.parsed()
        prefixes = list(pattern.prefixes)
        replicon_id = None
        gene = None
        if prefixes and (len(prefixes) == 2 or prefixes[0] not in self.gene_symbols):
            replicon_id = self.replicons.get(prefixes[0])
            if replicon_id is None:
                raise BadMutationError(
                    f"'{cond.value}': '{prefixes[0]}' is no "
                    + ("replicon" if len(prefixes) == 2 else "replicon nor gene")
                    + f" of reference {self.reference.accession}",
                    hint=self._prefix_hint(),
                )
        if (prefixes and replicon_id is None) or len(prefixes) == 2:
            gene = prefixes[-1]
        at = pattern.position
        where = Q(kind=MutationKind.INSERTION, start=max(at - 1, 0), end=at)
        if gene is None:
            if replicon_id is None:
                example = f"ins_{min(self.replicons, default='ACC')}:{at}:…"
                replicon_id = self._only_replicon(cond.value, f"e.g. {example}")
            model: Any = NucleotideMutation
            where &= Q(replicon_id=replicon_id)
            column = "nt_mutation_ids"
        else:
            model = AminoAcidMutation
            where &= Q(cds_id__in=self._cds_for(gene, replicon_id, cond.value))
            column = "aa_mutation_ids"
        # ``alt`` is the anchor and the inserted sequence (none before the first position)
        anchor = "^." if at > 0 else "^"
        ids = model.objects.filter(
            where, alt__iregex=anchor + pattern.regex().removeprefix("^")
        ).values_list("id", flat=True)
        found = sorted(ids)
        return Q(**{f"{column}__overlap": found}) if found else NOTHING

    # --- metadata -----------------------------------------------------------------------
    def _property(self, cond: PropertyCondition) -> Q:
        name = cond.property_name
        if name in SAMPLE_FIELDS:
            lookup, value = typed_value(SAMPLE_FIELDS[name], cond.filter_type, cond.value)
            if name == "qc_status" and lookup in ("exact", "iexact", "in"):
                lookup, value = _qc_status(lookup, value)
            q = Q(**{f"{name}__{lookup}": value})
            if cond.exclude and lookup != "isnull":
                # negated by the caller: NOT (cond AND NOT NULL) keeps the NULL rows, explicitly
                return q & Q(**{f"{name}__isnull": False})
            return q
        prop = self.properties.get(name)
        if prop is None:
            raise UnknownPropertyError(
                f"unknown property '{name}'",
                hint="List them with GET /api/properties/distinct_property_names/",
            )
        column = prop.value_column
        lookup, value = typed_value(
            property_spec(name, prop.datatype), cond.filter_type, cond.value
        )
        rows = SampleProperty.objects.filter(sample=OuterRef("pk"), property_id=prop.pk)
        if lookup == "isnull":
            present = Q(Exists(rows.filter(**{f"{column}__isnull": False})))
            return ~present if value else present
        return Q(Exists(rows.filter(**{f"{column}__{lookup}": value})))

    def _lineages(self, cond: LineageCondition) -> Q:
        names = self.lineage_set(cond.lineage_list, cond.include_sublineages)
        return Q(lineage__in=sorted(names))

    def lineage_set(self, names: list[str], include_sublineages: bool) -> set[str]:
        """The lineage names a condition means (aliases and full names resolved, descendants
        from the hierarchy, recombinants included); unknown names are an error."""
        if not names:
            raise FilterError("'Lineages' needs at least one lineage in 'lineageList'")
        # ``BA.2*``: that lineage with its sublineages, whatever includeSublineages says
        starred = {n.strip().removesuffix("*") for n in names if n.strip().endswith("*")}
        names = [n.strip().removesuffix("*") for n in names]
        found, unknown = self.lineages.resolve(names)
        seen: set[str] = set()
        if unknown:
            # a lineage assigned to samples but absent from the hierarchy is still a lineage
            seen = set(
                Sample.objects.filter(reference=self.reference, lineage__in=unknown)
                .values_list("lineage", flat=True)
                .distinct()
            )
            missing = [n for n in unknown if n not in seen]
            if missing:
                raise UnknownLineageError(
                    f"unknown lineage {', '.join(repr(m) for m in missing)} for reference "
                    f"{self.reference.accession}",
                    hint="List them with GET /api/samples/full_lineages/",
                )
        selected = set(found.values()) | seen
        roots = {v for k, v in found.items() if include_sublineages or k in starred}
        if roots:
            selected |= self.lineages.descendants(sorted(roots))
        return selected

    def _samples(self, cond: SampleCondition) -> Q:
        return Q(name__in=cond.value)

    def _replicon(self, cond: RepliconCondition) -> Q:
        replicon_id = self.replicons.get(cond.accession.strip().strip("\"'"))
        if replicon_id is None:
            raise FilterError(
                f"unknown replicon '{cond.accession}' for reference {self.reference.accession}",
                hint=f"Replicons: {', '.join(sorted(self.replicons))}",
            )
        return Q(
            Exists(
                Alignment.objects.filter(
                    replicon_id=replicon_id, sequence__records__sample=OuterRef("pk")
                )
            )
        )

    def _reference(self, cond: ReferenceCondition) -> Q:
        accession = cond.accession.strip().strip("\"'")
        reference_id = Reference.objects.filter(accession=accession).values_list("id", flat=True)
        found = list(reference_id)
        if not found:
            raise FilterError(f"unknown reference '{accession}'")
        return Q(reference_id=found[0])

    def _annotation(self, cond: AnnotationCondition) -> Q:
        text = FieldSpec(cond.property_name, ValueType.TEXT)
        lookup, value = typed_value(text, cond.filter_type, cond.value)
        effects = MutationEffect.objects.filter(
            mutation__replicon__reference=self.reference,
            **{f"{cond.property_name}__{lookup}": value},
        ).values("mutation_id")
        return Q(nt_mutation_ids__overlap=ArraySubquery(effects))


#: names listed in an error message at most (a bacterial reference has thousands of genes)
_LISTED = 40


def _listing(names: Iterable[str]) -> str:
    """``names`` sorted and comma separated, cut after :data:`_LISTED` with the count left."""
    ordered = sorted(names, key=lambda n: (n.casefold(), n))
    if len(ordered) <= _LISTED:
        return ", ".join(ordered) or "none"
    return ", ".join(ordered[:_LISTED]) + f", … ({len(ordered) - _LISTED} more)"


def _qc_status(lookup: str, value: Any) -> tuple[str, Any]:
    """``qc_status`` values in lower case and checked: a typo is an error, not 0 samples.

    :raises FilterError: a value that is not a QC status, naming the allowed ones.
    """
    values = [str(v).strip().lower() for v in (value if lookup == "in" else [value])]
    for v in values:
        if v not in QcStatus.values:
            raise FilterError(
                f"property 'qc_status' is one of {', '.join(QcStatus.values)}", value=v
            )
    return ("in", values) if lookup == "in" else ("exact", values[0])
