"""Read the curl examples of a Markdown file and run them as curl would, without a server.

The convention (shown answers after ``# → ``, ``…`` for what is left out) is described in
``tests/docs/test_readme_examples.py``. Commands are split into words as bash splits them
(``shlex`` in POSIX mode, after removing backslash-newline continuations outside single
quotes, as bash does); the request is built as curl builds it (``-G`` appends every ``-d`` value
as it is and every ``--data-urlencode name=content`` percent-encoded, joined by ``&``), so the
server sees the same path and query string a pasted command sends.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

#: the server every example talks to (``./taskw run`` / ``./taskw demo``)
BASE_URL = "http://127.0.0.1:8000"
#: a shown answer line: this marker, then one line of the answer
ANSWER = re.compile(r"^\s*# → ?(?P<text>.*)$")
#: in a shown JSON answer: an object key, list item or value standing for what is left out
ELLIPSIS = "…"
#: curl options an example may use: those without a value, and those taking one
CURL_FLAGS = {"-G": "get", "--get": "get", "-s": "silent", "--silent": "silent", "-S": "silent"}
CURL_DATA = {"-d": "raw", "--data": "raw", "--data-raw": "raw", "--data-urlencode": "urlencode"}
#: options that make a command a write or a token-holder's read: documented, not run here
NOT_RUN = {"-X", "--request", "-H", "--header"}


@dataclass
class Example:
    """One curl command of a bash block, with the answer shown after it."""

    line: int  # 1-based line of the command's first line in the file
    text: str  # the command as written, continuation lines included
    answer: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"README.md line {self.line}: {self.text.splitlines()[0].strip()}"


def bash_words(text: str) -> list[str]:
    """The words bash makes of a command line; ``|`` is a word of its own.

    Backslash-newline is removed outside single quotes first (bash's line continuation;
    ``shlex`` would keep the newline as a word).
    """
    joined, quote_char, i = [], "", 0
    while i < len(text):
        char = text[i]
        if char == "\\" and quote_char != "'" and text[i + 1 : i + 2] == "\n":
            i += 2
            continue
        if char == "\\" and quote_char != "'":
            joined.append(text[i : i + 2])
            i += 2
            continue
        if char in "'\"" and quote_char in ("", char):
            quote_char = "" if quote_char else char
        joined.append(char)
        i += 1
    lexer = shlex.shlex("".join(joined), posix=True, punctuation_chars="|")
    lexer.whitespace_split = True
    return list(lexer)


def _complete(text: str) -> bool:
    """Whether bash would run ``text`` as it is (no open quote, no trailing backslash)."""
    if text.rstrip("\n").endswith("\\"):
        return False
    try:
        bash_words(text)
    except ValueError:  # "No closing quotation"
        return False
    return True


def read_examples(markdown: Path) -> list[Example]:
    """Every ``curl`` command in the file's bash blocks, with the ``# → `` lines after it."""
    examples: list[Example] = []
    lines = markdown.read_text(encoding="utf-8").splitlines()
    in_bash, current, i = False, None, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            in_bash, current = line.strip() == "```bash", None
        elif in_bash and line.lstrip().startswith("curl "):
            first, text = i, line + "\n"
            while not _complete(text) and i + 1 < len(lines):
                i += 1
                text += lines[i] + "\n"
            current = Example(first + 1, text)
            examples.append(current)
        elif in_bash and current is not None and (match := ANSWER.match(line)):
            current.answer.append(match["text"])
        else:
            current = None
        i += 1
    return examples


@dataclass(frozen=True)
class Request:
    """What a curl command sends (GET only) and the pipeline its output goes through."""

    path_and_query: str
    head: int | None  # lines kept by `| head -N`


def _head_lines(words: list[str]) -> int:
    """N of ``head -N`` / ``head -n N``, the one filter an example may pipe into."""
    if words[:1] == ["head"] and len(words) == 2 and re.fullmatch(r"-\d+", words[1]):
        return int(words[1][1:])
    if words[:2] == ["head", "-n"] and len(words) == 3 and words[2].isdigit():
        return int(words[2])
    raise ValueError(f"unsupported pipeline {' '.join(words)!r} (only `| head -N`)")


def _short_flags(word: str) -> list[str]:
    """``-sG`` → ``["-s", "-G"]`` (curl's clustered flags); other words unchanged."""
    if re.fullmatch(r"-[A-Za-z]{2,}", word) and all(f"-{c}" in CURL_FLAGS for c in word[1:]):
        return [f"-{c}" for c in word[1:]]
    return [word]


def curl_request(text: str) -> Request:
    """The GET request a curl command sends, as curl builds it.

    :raises ValueError: an option, data form or pipeline this runner does not know (so an
        example cannot silently be run differently from how curl runs it).
    """
    words = bash_words(text)
    commands: list[list[str]] = [[]]
    for word in words:
        if word == "|":
            commands.append([])
        else:
            commands[-1].append(word)
    curl, *pipeline = commands
    if curl[:1] != ["curl"]:
        raise ValueError("not a curl command")
    if len(pipeline) > 1:
        raise ValueError("at most one `| head -N`")
    head = _head_lines(pipeline[0]) if pipeline else None
    args = [part for word in curl[1:] for part in _short_flags(word)]
    get, data, urls = False, [], []
    while args:
        arg = args.pop(0)
        if arg in CURL_FLAGS:
            get = get or CURL_FLAGS[arg] == "get"
        elif arg in CURL_DATA:
            value = args.pop(0)
            data.append(_data_part(CURL_DATA[arg], value))
        elif arg.startswith("-"):
            raise ValueError(f"curl option {arg} is not known to the README test")
        else:
            urls.append(arg)
    if len(urls) != 1:
        raise ValueError(f"expected one URL, got {urls}")
    if data and not get:
        raise ValueError("data without -G would be a POST; examples are reads")
    url = urls[0]
    if not url.startswith(BASE_URL + "/"):
        raise ValueError(f"URL {url} is not under {BASE_URL}/")
    if data:
        url += ("&" if "?" in url else "?") + "&".join(data)
    parts = urlsplit(url)
    return Request(parts.path + (f"?{parts.query}" if parts.query else ""), head)


def _data_part(kind: str, value: str) -> str:
    """One ``-d`` value as sent (as it is), or one ``--data-urlencode name=content``
    (content percent-encoded as curl encodes it: all but ``A-Za-z0-9-._~``)."""
    if value.startswith("@") or (kind == "urlencode" and "=" not in value):
        raise ValueError(f"data form {value[:20]!r} is not known to the README test")
    if kind == "raw":
        return value
    name, content = value.split("=", 1)
    return f"{name}={quote(content, safe='')}"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 300 else text[:300] + " …"


def json_mismatches(shown: Any, actual: Any, path: str = "$") -> list[str]:
    """Where ``actual`` differs from the shown answer ``shown``, as ``path: what`` lines.

    An object with the key ``"…"`` may have more keys than shown; a list item ``"…"`` stands
    for any number of items there; a value ``"…"`` for any value. Otherwise values must be
    equal and of the same JSON type (``50`` is not ``50.0``, as the printed answer differs).
    """
    if shown == ELLIPSIS:
        return []
    if isinstance(shown, dict):
        return _object_mismatches(shown, actual, path)
    if isinstance(shown, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {_short(actual)}"]
        if _list_matches(tuple(json.dumps(x) for x in shown), json.dumps(actual)):
            return []
        return _list_mismatches(shown, actual, path)
    if type(shown) is not type(actual) or shown != actual:
        return [f"{path}: shown {_short(shown)}, got {_short(actual)}"]
    return []


def _object_mismatches(shown: dict, actual: Any, path: str) -> list[str]:
    if not isinstance(actual, dict):
        return [f"{path}: expected an object, got {_short(actual)}"]
    keys = [k for k in shown if k != ELLIPSIS]
    problems = []
    if shown.get(ELLIPSIS) != ELLIPSIS and set(actual) != set(keys):
        problems.append(f"{path}: keys {sorted(actual)}, shown {sorted(keys)}")
    for key in keys:
        if key not in actual:
            problems.append(f"{path}: no key {key!r}")
        else:
            problems += json_mismatches(shown[key], actual[key], f"{path}.{key}")
    return problems


def _list_mismatches(shown: list, actual: list, path: str) -> list[str]:
    """Why a list does not match: each shown item that matches no item, explained against the
    item at its own index (the likely counterpart), else the whole list."""
    problems = []
    for index, item in enumerate(shown):
        if item == ELLIPSIS or any(not json_mismatches(item, other) for other in actual):
            continue
        if index < len(actual):
            problems += json_mismatches(item, actual[index], f"{path}[{index}]")
        else:
            problems.append(f"{path}[{index}]: shown {_short(item)}, the list ends before")
    return problems or [
        f"{path}: the items shown are there, not in this order or number; it is {_short(actual)}"
    ]


@cache
def _list_matches(shown: tuple[str, ...], actual_json: str) -> bool:
    """Glob match of a shown list (``"…"`` = any number of items) against the actual one
    (both JSON-encoded, to be hashable for the cache)."""
    actual = json.loads(actual_json)

    @cache
    def match(i: int, j: int) -> bool:
        if i == len(shown):
            return j == len(actual)
        item = json.loads(shown[i])
        if item == ELLIPSIS:
            return match(i + 1, j) or (j < len(actual) and match(i, j + 1))
        return j < len(actual) and not json_mismatches(item, actual[j]) and match(i + 1, j + 1)

    return match(0, 0)
