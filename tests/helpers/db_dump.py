"""Every row the import pipeline writes, without the values that legitimately differ between
two imports of the same data, so that "same database" can be asserted row by row.

Why not compare ``pg_dump`` output: an interrupted import followed by a re-run consumes ids
(sequences advance in transactions that were rolled back or killed), so every id and every
foreign key differs from an uninterrupted import's although the content is the same. The dump
therefore replaces each reference to a row by that row's own dump (recursively), and leaves out:

* primary keys, and ``mutation_id`` / ``*_mutation_ids`` / ``aa_parents`` ids (replaced by the
  mutations they name; the id arrays are compared as sorted lists, since their order is the
  order of the ids);
* ``auto_now``/``auto_now_add`` timestamps (``created``, ``updated``, ``init_upload_date``, ...);
* references to :class:`~emgsonar.models.ImportRun` (``created_by_run``, ``first_seen_run``, ...)
  and to users: which run wrote a row differs when an import ran as two runs;
* the tables of runs and jobs themselves (``emgsonar.ImportRun``, ``workflows.ClusterJob``,
  ``emgsonar.ApiToken``): attempts, job ids, summaries and states are *about* the runs.

A reference is the digest of the referenced row's dump, so two rows are equal exactly when
their content and the content of everything they point to are. Every other column of every
model of the data apps is compared, and :func:`dump_database` refuses to run when Postgres
holds a table of those apps that no model describes (so a table added by raw SQL cannot be
missed silently).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.db import connection, models

#: the apps whose tables hold imported data
DATA_APPS = ("analyses", "ena_like", "emgsonar", "workflows")
#: tables about runs and jobs, not data: they differ by design between one run and two
EXCLUDED_MODELS = {"emgsonar.importrun", "workflows.clusterjob", "emgsonar.apitoken"}
#: references to these are who/which run wrote a row, not what was written
EXCLUDED_TARGETS = {"emgsonar.importrun", "auth.user"}

Row = tuple[Any, ...]


class _Dumper:
    """Dumps rows, memoising each row's dump so references are resolved once."""

    def __init__(self) -> None:
        self.memo: dict[tuple[str, int], Row] = {}
        self.digests: dict[tuple[str, int], str] = {}
        self.rows: dict[str, dict[int, dict[str, Any]]] = {}

    def _table(self, model: type[models.Model]) -> dict[int, dict[str, Any]]:
        label = model._meta.label_lower
        if label not in self.rows:
            self.rows[label] = {
                row["pk"]: row for row in model.objects.values("pk", *_attnames(model))
            }
        return self.rows[label]

    def row(self, model: type[models.Model], pk: int | None) -> Row | None:
        if pk is None:
            return None
        key = (model._meta.label_lower, pk)
        if key not in self.memo:
            values = self._table(model)[pk]
            self.memo[key] = tuple(self._value(model, f, values) for f in _fields(model))
        return self.memo[key]

    def ref(self, model: type[models.Model], pk: int | None) -> str | None:
        """A reference to a row: a digest of the row's dump (its content, not its id), short
        so that a mutation does not carry its replicon's 30 kb sequence in every sample."""
        if pk is None:
            return None
        key = (model._meta.label_lower, pk)
        if key not in self.digests:
            text = f"{key[0]}:{self.row(model, pk)!r}"
            self.digests[key] = hashlib.sha256(text.encode()).hexdigest()[:20]
        return self.digests[key]

    def _mutation(self, level: str, pk: int) -> str | None:
        name = "NucleotideMutation" if level == "nt" else "AminoAcidMutation"
        return self.ref(apps.get_model("analyses", name), pk)

    def _mutations(self, level: str, ids: Iterable[int] | None) -> list[str | None]:
        return sorted(self._mutation(level, i) or "" for i in ids or [])

    def _value(self, model: type[models.Model], field: models.Field, values: dict) -> Any:
        value = values[field.attname]
        if field.is_relation:
            return self.ref(field.related_model, value)
        if field.name == "mutation_id":  # MutationCount: an nt or aa mutation, by level
            return self._mutation(values["level"], value)
        if field.name in ("nt_mutation_ids", "aa_mutation_ids"):
            return self._mutations(field.name[:2], value)
        if field.name == "aa_parents":
            return sorted(
                (self._mutation("aa", int(aa)) or "", self._mutations("nt", nt))
                for aa, nt in value.items()
            )
        if isinstance(value, (dict, list)):
            return repr(value)
        return value

    def m2m(self, model: type[models.Model]) -> list[Row]:
        out = []
        for field in model._meta.many_to_many:
            through = field.remote_field.through
            src, dst = f"{field.m2m_field_name()}_id", f"{field.m2m_reverse_field_name()}_id"
            for a, b in through.objects.values_list(src, dst):
                out.append((field.name, self.ref(model, a), self.ref(field.related_model, b)))
        return out


def _included(field: models.Field) -> bool:
    if field.primary_key or getattr(field, "auto_now", False):
        return False
    if getattr(field, "auto_now_add", False):
        return False
    return not (field.is_relation and field.related_model._meta.label_lower in EXCLUDED_TARGETS)


def _fields(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if _included(f)]


def _attnames(model: type[models.Model]) -> list[str]:
    return sorted({f.attname for f in _fields(model)})


def data_models() -> list[type[models.Model]]:
    """Every model of :data:`DATA_APPS` except :data:`EXCLUDED_MODELS`."""
    return [
        model
        for label in DATA_APPS
        for model in apps.get_app_config(label).get_models()
        if model._meta.label_lower not in EXCLUDED_MODELS
    ]


def _check_no_unmodelled_tables() -> None:
    modelled = {
        table
        for label in DATA_APPS
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
        for table in [model._meta.db_table]
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = {name for (name,) in cursor.fetchall()}
    unknown = {t for t in tables if t.split("_")[0] in {"analyses", "ena", "emgsonar", "workflows"}}
    unknown -= modelled
    if unknown:
        raise AssertionError(f"tables without a model, not compared: {sorted(unknown)}")


def dump_database() -> dict[str, list[Row]]:
    """Every row of every data table, as sorted tuples of values (see the module docstring).

    :returns: ``{"app.model": [row, ...]}``, each list sorted, plus ``"app.model.m2m"`` for
        many-to-many links.
    """
    _check_no_unmodelled_tables()
    dumper = _Dumper()
    out: dict[str, list[Row]] = {}
    for model in data_models():
        label = model._meta.label_lower
        out[label] = sorted((dumper.row(model, pk) for pk in dumper._table(model)), key=repr)
        if model._meta.many_to_many:
            out[f"{label}.m2m"] = sorted(dumper.m2m(model), key=repr)
    return out


def differences(a: dict[str, list[Row]], b: dict[str, list[Row]], shown: int = 3) -> list[str]:
    """Readable differences between two dumps: per table, the counts and a few rows only in
    one of them (an assertion message that does not print 10,000 rows)."""
    out = []
    for table in sorted(set(a) | set(b)):
        rows_a, rows_b = a.get(table, []), b.get(table, [])
        if rows_a == rows_b:
            continue
        seen_a, seen_b = {repr(r) for r in rows_a}, {repr(r) for r in rows_b}
        only_a = [r for r in rows_a if repr(r) not in seen_b][:shown]
        only_b = [r for r in rows_b if repr(r) not in seen_a][:shown]
        out.append(
            f"{table}: {len(rows_a)} vs {len(rows_b)} rows; only in the first: {only_a}; "
            f"only in the second: {only_b}"
        )
    return out
