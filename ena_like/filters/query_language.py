"""The query language: a line of text instead of the filter JSON, for people and notebooks.

``S:N501Y & (S:E484K | !lineage=BA.2*) & country=Germany & collection_date>=2024-06-01``

The text is parsed by lark (LALR, grammar :data:`GRAMMAR`) and translated into sonar's filter
JSON (:func:`query_to_filters`), which :func:`~ena_like.filters.tree.parse_filters` reads into the
same tree every ``filters`` becomes: one compiler, so a query and its JSON answer the same
samples. Negation of a group is pushed down to the conditions (De Morgan), because a tree node
has no negation of its own, only a condition's ``exclude``.

Syntax errors point at the character: :class:`QuerySyntaxError` names the column and shows the
query with a caret under it. Names only the database knows (genes, lineages, custom
properties) are checked when the tree is compiled, with the filter engine's messages.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, ClassVar

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from analyses.calling.labels import parse_label
from emgsonar.errors import EmgsonarError
from ena_like.fields import SAMPLE_FIELDS
from ena_like.filters.errors import FilterError
from ena_like.filters.tree import FilterNode, parse_filters, parse_insertion_pattern
from ena_like.filters.values import typed_value

GRAMMAR = r"""
start: or_expr

?or_expr: and_expr ("|" and_expr)*
?and_expr: not_expr ("&" not_expr)*
?not_expr: NOT not_expr -> negation
         | atom
?atom: "(" or_expr ")"
     | n_of
     | maybe
     | comparison
     | term

n_of: "[" N_OF or_expr ("," or_expr)* "]"
maybe: MAYBE TERM ")"
comparison: TERM OP (TERM | STRING)
term: TERM

NOT: "!"
N_OF: /(exactly-)?[0-9]+-of:/i
MAYBE.2: /maybe[ \t]*\(/i
OP: "<=" | ">=" | "!=" | "=" | "<" | ">" | "~"
TERM: /[A-Za-z0-9_.:*?^$\/+-]+/
STRING: /"[^"\n]*"|'[^'\n]*'/

%ignore /\s+/
"""

_PARSER = Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)

#: comparison operator → the filter type of a ``Property`` condition
_OPERATORS = {
    "=": "exact",
    "!=": "exact",
    "<": "lt",
    "<=": "lte",
    ">": "gt",
    ">=": "gte",
    "~": "regex",
}

#: what the terminals are called in "expected …" messages
_NAMES = {
    "TERM": "a mutation, field or value",
    "STRING": "a quoted value",
    "OP": "a comparison (= != < <= > >= ~)",
    "NOT": "'!'",
    "N_OF": "'2-of:' (or 'exactly-2-of:')",
    "MAYBE": "'MAYBE('",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "AMPERSAND": "'&'",
    "VBAR": "'|'",
    "$END": "the end of the query",
}

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: the lineage field: ``lineage=BA.2`` that lineage, ``lineage=BA.2*`` with its sublineages
LINEAGE = "lineage"

HINT = (
    "A query is e.g. S:N501Y & (S:E484K | !lineage=BA.2*) & country=Germany; "
    "see docs/api.md, Query language"
)


class QueryText(str):
    """A filter given in the query language where filter JSON text is expected: the
    ``filters`` of :class:`ena_like.schemas.FilterParams` when the request sent ``query=``, so
    every reader of ``params.filters`` (each endpoint, the analytics) takes the query."""


class QuerySyntaxError(FilterError):
    """A query that does not parse, located: column (1-based) and the query with a caret."""

    code: ClassVar[str] = "invalid_query"

    def __init__(self, problem: str, text: str, offset: int, hint: str | None = HINT) -> None:
        self.text = text
        self.offset = max(0, min(offset, len(text)))
        line_start = text.rfind("\n", 0, self.offset) + 1
        line_end = text.find("\n", self.offset)
        self.line = text.count("\n", 0, self.offset) + 1
        self.column = self.offset - line_start + 1
        self.source_line = text[line_start : line_end if line_end >= 0 else len(text)]
        super().__init__(problem, position=self.column, hint=hint)

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if "\n" in self.text else ""
        where = where or f"column {self.column}"
        text = f"query, {where}: {self.problem}."
        if self.hint:
            text += f" {self.hint.rstrip('.')}."
        caret = " " * (self.column - 1) + "^"
        return f"{text}\n  {self.source_line}\n  {caret}"


def parse_query(text: str) -> FilterNode:
    """The filter tree of a query (empty text: the empty tree, every sample).

    :raises QuerySyntaxError: the query does not parse, or a part of it is malformed (a bad
        mutation, date or number), pointing at it.
    """
    return parse_filters(query_to_filters(text))


def query_to_filters(text: str) -> dict[str, Any]:
    """The sonar filter JSON a query means (``{}`` for an empty one).

    >>> query_to_filters("S:N501Y & !lineage=BA.2*")
    {'andFilter': [{'label': 'DNA/AA Profile', 'value': 'S:N501Y'}, \
{'label': 'Lineages', 'lineageList': ['BA.2'], 'includeSublineages': True, 'exclude': True}]}

    :raises QuerySyntaxError: as :func:`parse_query`.
    """
    if not text.strip():
        return {}
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text) from None
    return _Translator(text).node(tree.children[0])


def locate(text: str, error: FilterError) -> FilterError:
    """``error`` of compiling the query ``text`` (an unknown gene, lineage or property, which
    only the database knows), its problem prefixed with the column of the first name of the
    query it quotes; same class and code. Unchanged when it quotes none.
    """
    translator = _Translator(text)
    translator.node(_PARSER.parse(text).children[0])
    quoted = [(at, name) for name, at in translator.names if f"'{name}'" in error.problem]
    if not quoted or isinstance(error, QuerySyntaxError):
        return error
    at = min(quoted)[0]
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    where = f"column {column}"
    if "\n" in text:
        line = text.count("\n", 0, at) + 1
        where = f"line {line}, {where}"
    return dataclasses.replace(error, problem=f"query, {where}: {error.problem}")


def _syntax_error(exc: UnexpectedInput, text: str) -> QuerySyntaxError:
    """What lark found, in the language's words, at the offending character."""
    if isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    ):
        expected = getattr(exc, "expected", None) or ()
        return QuerySyntaxError(
            f"the query ends early; expected {_expected(expected)}", text, len(text.rstrip())
        )
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        return QuerySyntaxError(
            f"unexpected '{token.value}'; expected {_expected(exc.expected)}",
            text,
            token.start_pos or 0,
        )
    assert isinstance(exc, UnexpectedCharacters)
    problem = f"unexpected character '{text[exc.pos_in_stream]}'"
    if exc.allowed:
        problem += f"; expected {_expected(exc.allowed)}"
    return QuerySyntaxError(problem, text, exc.pos_in_stream)


def _expected(names: Any) -> str:
    described = sorted({_NAMES.get(n, n) for n in names if not n.startswith("__")})
    return " or ".join(described) if described else "something else"


class _Translator:
    """Turns the lark tree into filter JSON, checking what can be checked without the
    database (mutation syntax, values of the fixed columns) where the text shows it."""

    def __init__(self, text: str) -> None:
        self.text = text
        #: the names the database checks (mutations, patterns, lineages, fields) and where
        self.names: list[tuple[str, int]] = []

    def node(self, tree: Tree | Token) -> dict[str, Any]:
        if isinstance(tree, Token):  # pragma: no cover - every token sits in a rule
            raise self._error("unexpected token", tree)
        rule = tree.data
        if rule == "or_expr":
            return {"orFilter": [self.node(child) for child in tree.children]}
        if rule == "and_expr":
            return {"andFilter": [self.node(child) for child in tree.children]}
        if rule == "negation":
            return _negate(self.node(tree.children[1]))
        if rule == "n_of":
            return self._n_of(tree)
        if rule == "maybe":
            token = tree.children[1]
            assert isinstance(token, Token)
            return {"label": "Maybe", "value": self._mutation(token)}
        if rule == "comparison":
            return self._comparison(tree)
        token = tree.children[0]
        assert rule == "term" and isinstance(token, Token)
        if token.value.lower().startswith("ins_"):
            try:
                parse_insertion_pattern(token.value)
            except ValueError as exc:
                problem = f"bad insertion pattern '{token.value}'"
                raise self._error(problem, token, str(exc)) from None
            self.names.append((token.value, token.start_pos or 0))
            return {"label": "Insertion pattern", "value": token.value}
        return {"label": "DNA/AA Profile", "value": self._mutation(token)}

    def _n_of(self, tree: Tree) -> dict[str, Any]:
        head, *items = tree.children
        assert isinstance(head, Token)
        exactly = head.value.lower().startswith("exactly-")
        n = int(head.value.lower().removeprefix("exactly-").split("-", 1)[0])
        if n > 10_000:
            raise self._error(f"{n}-of is more than 10000", head)
        return {
            "label": "N-of",
            "n": n,
            "exactly": exactly,
            "items": [self.node(item) for item in items],
        }

    def _mutation(self, token: Token) -> str:
        """A mutation label as the filter engine reads it, checked for syntax here."""
        text = token.value
        if text.lower().startswith("ins_"):
            raise self._error(
                f"'{text}' is an insertion pattern; MAYBE takes a substitution or deletion", token
            )
        try:
            parse_label(text.removesuffix("*fs"))
        except EmgsonarError as exc:
            hint = "A mutation is e.g. A23403G, S:N501Y, del:21765-21770, S:del:69-70"
            if _FIELD.match(text):
                hint = f"A comparison needs an operator, e.g. {text}=value. " + hint
            raise self._error(f"'{text}' is no mutation", token, hint) from exc
        self.names.append((text, token.start_pos or 0))
        return text

    def _comparison(self, tree: Tree) -> dict[str, Any]:
        field, op, value_token = tree.children
        assert isinstance(field, Token) and isinstance(op, Token)
        assert isinstance(value_token, Token)
        if not _FIELD.match(field.value):
            raise self._error(
                f"'{field.value}' is no field name",
                field,
                "A comparison is field=value (country=Germany); a field is a sample column "
                "or property name",
            )
        value = value_token.value
        if value_token.type == "STRING":
            value = value[1:-1]
        name = field.value
        self.names.append((name, field.start_pos or 0))
        exclude = op.value == "!="
        if name == LINEAGE:
            if op.value not in ("=", "!="):
                raise self._error(
                    f"lineage compares with = or !=, not '{op.value}'", op, "e.g. lineage=BA.2*"
                )
            star = value.endswith("*")
            lineage = value.removesuffix("*").removesuffix(".")
            if not lineage or "*" in lineage:
                raise self._error(
                    f"bad lineage '{value}'",
                    value_token,
                    "A lineage, '*' at the end for its sublineages: lineage=BA.2*",
                )
            self.names.append((lineage, value_token.start_pos or 0))
            item = {
                "label": "Lineages",
                "lineageList": [lineage],
                "includeSublineages": star,
            }
        else:
            filter_type = _OPERATORS[op.value]
            spec = SAMPLE_FIELDS.get(name)
            if spec is not None:
                # fixed columns have a known type: a bad date or number points at the value
                try:
                    typed_value(spec, filter_type, value)
                except FilterError as exc:
                    raise self._error(exc.problem, value_token, exc.hint or HINT) from None
            item = {
                "label": "Property",
                "property_name": name,
                "filter_type": filter_type,
                "value": value,
            }
        if exclude:
            item["exclude"] = True
        return item

    def _error(self, problem: str, token: Token, hint: str | None = HINT) -> QuerySyntaxError:
        return QuerySyntaxError(problem, self.text, token.start_pos or 0, hint)


def _negate(item: dict[str, Any]) -> dict[str, Any]:
    """``!item`` as filter JSON: a condition toggles ``exclude``; a group becomes its dual with
    every item negated (De Morgan), because groups cannot be negated themselves."""
    if "label" in item:
        negated = {**item, "exclude": not item.get("exclude", False)}
        if not negated["exclude"]:
            del negated["exclude"]
        return negated
    if "andFilter" in item:
        return {"orFilter": [_negate(i) for i in item["andFilter"]]}
    return {"andFilter": [_negate(i) for i in item["orFilter"]]}
