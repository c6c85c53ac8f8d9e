"""Files that cross the boundary between the database side and a calling job.

A Slurm job on another node has no database: it gets the reference as JSON
(:func:`write_reference_spec`) and a FASTA chunk, and writes its calls as JSON Lines
(:func:`write_results`); the loader reads them back (:func:`read_results`). Both round trips are
exact (``read(write(x)) == x``) and both writers are atomic (temporary file in the same
directory, then ``os.replace``), so a reader never sees half a file, whatever happens to the job.

Results file (``RESULT.jsonl``), UTF-8, one JSON value per line:

1. a header object: ``{"format": "emgsonar-chunk-results", "version": 1, "reference": ACC,
   "content_hash": ..., "records": N, "nt_table": K, "aa_table": M, "schema": {class:
   [field, ...]}}``;
2. ``K`` lines, the distinct :class:`~analyses.calling.types.NtMutation` values of the chunk,
   then ``M`` lines, the distinct :class:`~analyses.calling.types.AaMutation` values;
3. ``N`` lines, one :class:`~analyses.calling.types.SequenceResult` each, in input order, whose
   ``nt_mutations``/``aa_mutations`` are lists of indexes into those tables and ``qc`` is its
   :class:`~analyses.calling.types.QcResult` (positional too; ``null`` when nothing was called).

Values are encoded positionally: a dataclass is the list of its field values in ``schema``
order (nested dataclasses likewise), tuples are lists. Positional, and mutations stored once per
chunk, because ~100 mutations per genome, mostly shared, would otherwise make the file ~20 kB
per genome and reading it the slowest step of a load (decoding shares one object per distinct
mutation; frozen dataclasses make that safe).

A file whose schema differs from the running code's dataclasses was written by another version
and is refused rather than mis-read. Framework-free: no Django, no Prefect.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from analyses.calling.reference import CdsSpec, GeneSpec, ReferenceSpec, RepliconSpec, Segment
from analyses.calling.types import (
    AaMutation,
    AlignedBlock,
    Effect,
    NtMutation,
    QcResult,
    RuleResult,
    SequenceResult,
    UnknownAa,
)
from emgsonar.errors import InputFormatError

RESULTS_FORMAT = "emgsonar-chunk-results"
REFERENCE_FORMAT = "emgsonar-reference"
VERSION = 1

#: nested dataclass types of each (class, field); other tuple fields hold plain values
_NESTED: dict[tuple[type, str], type] = {
    (ReferenceSpec, "replicons"): RepliconSpec,
    (RepliconSpec, "genes"): GeneSpec,
    (RepliconSpec, "cds"): CdsSpec,
    (CdsSpec, "segments"): Segment,
    (SequenceResult, "blocks"): AlignedBlock,
    (SequenceResult, "nt_mutations"): NtMutation,
    (SequenceResult, "aa_mutations"): AaMutation,
    (SequenceResult, "unknown_aa"): UnknownAa,
    (NtMutation, "effects"): Effect,
    (QcResult, "rules"): RuleResult,
}
#: nested dataclass types of fields holding one value or ``None``
_OPTIONAL: dict[tuple[type, str], type] = {(SequenceResult, "qc"): QcResult}
_RESULT_CLASSES = (
    SequenceResult, AlignedBlock, NtMutation, Effect, AaMutation, UnknownAa, QcResult, RuleResult,
)  # fmt: skip
_REFERENCE_CLASSES = (ReferenceSpec, RepliconSpec, GeneSpec, CdsSpec, Segment)


def _names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def schema(classes: Iterable[type]) -> dict[str, list[str]]:
    """Field order of each class, written into file headers."""
    return {cls.__name__: _names(cls) for cls in classes}


# --- encoding --------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [_encode(getattr(value, name)) for name in _names(type(value))]
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    return value


def _encode_named(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _encode_named(getattr(value, name)) for name in _names(type(value))}
    if isinstance(value, tuple | list):
        return [_encode_named(v) for v in value]
    return value


# --- decoding --------------------------------------------------------------------------------


def _tupled(value: Any) -> Any:
    """Lists back to tuples, recursively (frozen dataclasses hold tuples)."""
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    return value


_DECODERS: dict[type, Callable[[Any], Any]] = {}


def _field_step(cls: type, name: str) -> Callable[[Any], Any]:
    """The decoder of one positional field: nested tuple, optional nested value, or plain."""
    nested = _NESTED.get((cls, name))
    if nested is not None:
        inner = _decoder(nested)
        return lambda v: tuple(inner(x) for x in v)
    optional = _OPTIONAL.get((cls, name))
    if optional is not None:
        one = _decoder(optional)
        return lambda v: None if v is None else one(v)
    return _tupled


def _decoder(cls: type) -> Callable[[Any], Any]:
    """A positional decoder for ``cls``, built once (the hot path of the loader)."""
    if cls in _DECODERS:
        return _DECODERS[cls]
    steps: list[Callable[[Any], Any]] = []
    for name in _names(cls):
        steps.append(_field_step(cls, name))
    count = len(steps)

    def decode(values: list[Any]) -> Any:
        if len(values) != count:
            raise ValueError(f"{cls.__name__} needs {count} fields, got {len(values)}")
        return cls(*[step(v) for step, v in zip(steps, values, strict=True)])

    _DECODERS[cls] = decode
    return decode


def _decode_named(cls: type, data: dict[str, Any]) -> Any:
    kwargs = {}
    for name in _names(cls):
        if name not in data:
            continue  # a field with a default, absent in an older file
        nested = _NESTED.get((cls, name))
        optional = _OPTIONAL.get((cls, name))
        value = data[name]
        if nested is not None:
            kwargs[name] = tuple(_decode_named(nested, v) for v in value)
        elif optional is not None:
            kwargs[name] = None if value is None else _decode_named(optional, value)
        else:
            kwargs[name] = _tupled(value)
    return cls(**kwargs)


# --- atomic writing --------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside ``path`` that replaces ``path`` only when complete.

    Same directory, hence same file system: flushed to disk, then renamed over ``path``, so a
    reader (another node of the cluster, a re-run) sees the whole file or none of it, even when
    the writer is killed mid-write. On an error the temporary file is removed.

    :param mode: ``"w"`` (UTF-8 text, ``\n`` line ends) or ``"wb"``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        text = {"encoding": "utf-8", "newline": "\n"} if "b" not in mode else {}
        with os.fdopen(fd, mode, **text) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, lines: Iterable[str]) -> None:
    """Write text lines to ``path`` atomically (:func:`atomic_file`), streaming them.

    :param lines: each written as is followed by a newline.
    """
    with atomic_file(path) as handle:
        for line in lines:
            handle.write(line)
            handle.write("\n")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- reference -------------------------------------------------------------------------------


def reference_to_json(spec: ReferenceSpec) -> dict[str, Any]:
    """A JSON-ready dict of a reference (named fields: the file is read by people too)."""
    return {
        "format": REFERENCE_FORMAT,
        "version": VERSION,
        "reference": _encode_named(spec),
    }


def reference_from_json(data: dict[str, Any], path: Path | str | None = None) -> ReferenceSpec:
    """Inverse of :func:`reference_to_json`.

    :raises InputFormatError: not a reference file of this format version.
    """
    if not isinstance(data, dict) or data.get("format") != REFERENCE_FORMAT:
        raise InputFormatError("not an emgsonar reference JSON file", path=path)
    if data.get("version") != VERSION:
        raise InputFormatError(
            f"reference file has format version {data.get('version')}, expected {VERSION}",
            path=path,
            hint="Write it again with this version of emgsonar",
        )
    try:
        return _decode_named(ReferenceSpec, data["reference"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputFormatError(f"broken reference file ({exc})", path=path) from exc


def write_reference_spec(spec: ReferenceSpec, path: Path) -> None:
    """Write a reference as JSON, atomically."""
    write_atomic(Path(path), [_dumps(reference_to_json(spec))])


def read_reference_spec(path: Path) -> ReferenceSpec:
    """Read a reference written by :func:`write_reference_spec`.

    :raises InputFormatError: missing file, not JSON, or not a reference file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputFormatError(
            f"cannot read reference file ({exc.strerror or exc})", path=path
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFormatError(f"reference file is not JSON ({exc.msg})", path=path) from exc
    return reference_from_json(data, path)


# --- results ---------------------------------------------------------------------------------


def results_header(spec: ReferenceSpec, count: int, nt_table: int, aa_table: int) -> dict[str, Any]:
    return {
        "format": RESULTS_FORMAT,
        "version": VERSION,
        "reference": spec.accession,
        "content_hash": spec.content_hash,
        "records": count,
        "nt_table": nt_table,
        "aa_table": aa_table,
        "schema": schema(_RESULT_CLASSES),
    }


def encode_results(spec: ReferenceSpec, results: Sequence[SequenceResult]) -> list[str]:
    """The lines of a results file (see the module docstring)."""
    nt_index: dict[NtMutation, int] = {}
    aa_index: dict[AaMutation, int] = {}
    bodies = []
    skip = {"nt_mutations", "aa_mutations"}
    names = _names(SequenceResult)
    for result in results:
        nt = [nt_index.setdefault(m, len(nt_index)) for m in result.nt_mutations]
        aa = [aa_index.setdefault(m, len(aa_index)) for m in result.aa_mutations]
        row = []
        for name in names:
            if name in skip:
                row.append(nt if name == "nt_mutations" else aa)
            else:
                row.append(_encode(getattr(result, name)))
        bodies.append(_dumps(row))
    lines = [_dumps(results_header(spec, len(results), len(nt_index), len(aa_index)))]
    lines.extend(_dumps(_encode(m)) for m in nt_index)
    lines.extend(_dumps(_encode(m)) for m in aa_index)
    lines.extend(bodies)
    return lines


def write_results(path: Path, spec: ReferenceSpec, results: Sequence[SequenceResult]) -> None:
    """Write a chunk's results as JSON Lines, atomically (see the module docstring)."""
    write_atomic(Path(path), encode_results(spec, results))


def _check_header(line: str, path: Path) -> dict[str, Any]:
    try:
        header = json.loads(line) if line.strip() else None
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != RESULTS_FORMAT:
        raise InputFormatError("not an emgsonar chunk results file", path=path)
    if header.get("version") != VERSION or header.get("schema") != schema(_RESULT_CLASSES):
        raise InputFormatError(
            "results file was written by another version of emgsonar",
            path=path,
            hint="Align the chunk again",
        )
    return header


def _result_decoder() -> Callable[[list[Any], list[NtMutation], list[AaMutation]], SequenceResult]:
    names = _names(SequenceResult)
    steps: list[Callable[[Any], Any] | None] = []
    for name in names:
        if name in ("nt_mutations", "aa_mutations"):
            steps.append(None)
        else:
            steps.append(_field_step(SequenceResult, name))
    nt_at, aa_at = names.index("nt_mutations"), names.index("aa_mutations")
    count = len(names)

    def decode(values: list[Any], nt: list[NtMutation], aa: list[AaMutation]) -> SequenceResult:
        if len(values) != count:
            raise ValueError(f"SequenceResult needs {count} fields, got {len(values)}")
        args = [step(v) if step is not None else v for step, v in zip(steps, values, strict=True)]
        args[nt_at] = tuple(nt[i] for i in values[nt_at])
        args[aa_at] = tuple(aa[i] for i in values[aa_at])
        return SequenceResult(*args)

    return decode


def read_results(
    path: Path, *, expect_content_hash: str | None = None
) -> tuple[dict[str, Any], list[SequenceResult]]:
    """Read a results file: (header, results in file order).

    :param expect_content_hash: refuse results computed against another reference content.
    :raises InputFormatError: foreign, truncated or mismatching file.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as handle:
            header = _check_header(handle.readline(), path)
            lines = handle.read().split("\n")
    except OSError as exc:
        raise InputFormatError(
            f"cannot read results file ({exc.strerror or exc})", path=path
        ) from exc
    if lines and lines[-1] == "":
        lines.pop()
    n_nt, n_aa, n_records = header["nt_table"], header["aa_table"], header["records"]
    if len(lines) != n_nt + n_aa + n_records:
        raise InputFormatError(
            f"results file holds {len(lines)} lines after its header, which announces "
            f"{n_nt} + {n_aa} + {n_records}",
            path=path,
            hint="Align the chunk again",
        )
    if expect_content_hash is not None and header.get("content_hash") != expect_content_hash:
        raise InputFormatError(
            "results were computed against another version of the reference",
            path=path,
            value=header.get("content_hash"),
            hint="Align the chunk again",
        )
    number = 1
    try:
        nt_decode, aa_decode = _decoder(NtMutation), _decoder(AaMutation)
        nt, aa, results = [], [], []
        for line in lines[:n_nt]:
            number += 1
            nt.append(nt_decode(json.loads(line)))
        for line in lines[n_nt : n_nt + n_aa]:
            number += 1
            aa.append(aa_decode(json.loads(line)))
        decode = _result_decoder()
        for line in lines[n_nt + n_aa :]:
            number += 1
            results.append(decode(json.loads(line), nt, aa))
    except (json.JSONDecodeError, TypeError, ValueError, IndexError) as exc:
        raise InputFormatError(f"broken result line ({exc})", path=path, position=number) from exc
    return header, results
