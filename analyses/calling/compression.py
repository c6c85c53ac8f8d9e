"""Reading possibly compressed text files: the one implementation, for every input.

FASTA, GenBank, metadata and lineage files all come through :func:`open_text`. Compression
(gzip, xz, zstd, zip) is told from the magic bytes, never the file name, because users rename
files. A truncated or corrupt archive raises :class:`~emgsonar.errors.InputFormatError` naming
the file at the point the damage is found, so no consumer ever takes a cut input for a whole
one (``zstandard``'s own stream reader would silently return a cut frame's bytes).

Framework-free, like the rest of the calling core; :mod:`ena_like.download` re-exports it.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import lzma
import zipfile
import zlib
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, TextIO

import zstandard

from emgsonar.errors import InputFormatError, NotFoundError

logger = logging.getLogger(__name__)

#: size of the blocks read from disk
CHUNK_SIZE = 1 << 20
#: file name endings taken as the FASTA member of a zip with several members
FASTA_SUFFIXES = (".fasta", ".fa", ".fna", ".fas")


class Compression(StrEnum):
    """Container/compression format of a file, as told by its first bytes."""

    NONE = "none"
    GZIP = "gzip"
    XZ = "xz"
    ZSTD = "zstd"
    ZIP = "zip"


_MAGIC: tuple[tuple[bytes, Compression], ...] = (
    (b"\x1f\x8b", Compression.GZIP),
    (b"\xfd7zXZ\x00", Compression.XZ),
    (b"\x28\xb5\x2f\xfd", Compression.ZSTD),
    (b"PK\x03\x04", Compression.ZIP),
    (b"PK\x05\x06", Compression.ZIP),  # empty archive
)


def detect_compression(path: Path) -> Compression:
    """Tell the compression of ``path`` from its magic bytes (the file name is not trusted).

    :raises NotFoundError: the file does not exist.
    :raises InputFormatError: a bzip2 file (recognised, but not supported).
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except FileNotFoundError:
        raise NotFoundError("no such file", path=path) from None
    for magic, compression in _MAGIC:
        if head.startswith(magic):
            return compression
    if head.startswith(b"BZh"):
        raise InputFormatError(
            "bzip2 compression is not supported",
            path=path,
            hint="Recompress with gzip, xz or zstd",
        )
    return Compression.NONE


def list_zip_members(path: Path) -> list[str]:
    """Names of the files (not directories) in a zip archive, in archive order.

    :raises InputFormatError: not a readable zip archive.
    """
    with _open_zip(Path(path)) as archive:
        return [info.filename for info in archive.infolist() if not info.is_dir()]


@contextlib.contextmanager
def open_member(path: Path, member: str, *, encoding: str = "utf-8") -> Iterator[TextIO]:
    """Open one member of a zip archive as text (e.g. the TSV next to the FASTA).

    :raises NotFoundError: no such member.
    :raises InputFormatError: corrupt archive or member, or not text in ``encoding``.
    """
    path = Path(path)
    with _open_zip(path) as archive:
        try:
            info = archive.getinfo(member)
        except KeyError:
            raise NotFoundError(
                f"zip archive has no member '{member}'",
                path=path,
                hint=f"Members: {', '.join(_member_names(archive))}",
            ) from None
        with _text_from(
            path, lambda: _zip_member_stream(path, archive, info), encoding, "zip archive"
        ) as text:
            yield text


@contextlib.contextmanager
def open_text(path: Path, *, encoding: str = "utf-8") -> Iterator[TextIO]:
    """Open ``path`` as text, decompressing gzip, xz, zstd or zip transparently.

    For a zip archive, the single member is read, or else the first member whose name ends in
    .fasta/.fa/.fna/.fas (use :func:`list_zip_members`/:func:`open_member` for the others).
    Lines are read with universal newlines: CRLF files (some of sonar's test data) yield ``\n``.
    Reading a truncated or corrupt archive raises :class:`InputFormatError` naming the file, at
    the point where the damage is found, so a consumer never takes a cut input for a whole one.

    :raises NotFoundError: the file does not exist.
    :raises InputFormatError: corrupt/truncated archive, unusable zip, not text in ``encoding``.
    """
    path = Path(path)
    compression = detect_compression(path)
    if compression is Compression.ZIP:
        with _open_zip(path) as archive:
            info = _pick_zip_member(path, archive)
            with _text_from(
                path, lambda: _zip_member_stream(path, archive, info), encoding, "zip archive"
            ) as text:
                yield text
        return
    openers: dict[Compression, Callable[[], IO[bytes]]] = {
        Compression.NONE: lambda: path.open("rb"),
        Compression.GZIP: lambda: gzip.open(path, "rb"),
        Compression.XZ: lambda: lzma.open(path, "rb"),
        Compression.ZSTD: lambda: _ZstdReader(path),
    }
    what = "file" if compression is Compression.NONE else f"{compression.value} archive"
    with _text_from(path, openers[compression], encoding, what) as text:
        yield text


#: errors raised by the decompressors for damaged input
_CORRUPTION_ERRORS = (
    EOFError,
    gzip.BadGzipFile,
    lzma.LZMAError,
    zlib.error,
    zipfile.BadZipFile,
    zstandard.ZstdError,
)


class _GuardedReader(io.RawIOBase):
    """Raw stream over a decompressor that turns its corruption errors into InputFormatError."""

    def __init__(self, inner: IO[bytes], path: Path, what: str) -> None:
        super().__init__()
        self._inner = inner
        self._path = path
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buffer))
        except _CORRUPTION_ERRORS as exc:
            raise InputFormatError(
                f"{self._what} is truncated or corrupt ({exc})",
                path=self._path,
                hint="Download or copy the file again",
            ) from exc
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


@contextlib.contextmanager
def _text_from(
    path: Path,
    opener: Callable[[], IO[bytes]],
    encoding: str,
    what: str,
) -> Iterator[TextIO]:
    try:
        inner = opener()
    except _CORRUPTION_ERRORS as exc:
        raise InputFormatError(
            f"{what} is truncated or corrupt ({exc})",
            path=path,
            hint="Download or copy the file again",
        ) from exc
    raw = _GuardedReader(inner, path, what)
    text = io.TextIOWrapper(io.BufferedReader(raw, CHUNK_SIZE), encoding=encoding, newline=None)
    try:
        yield text
    except UnicodeDecodeError as exc:
        raise InputFormatError(
            f"not {encoding} text ({exc.reason})",
            path=path,
            hint="Sequence and metadata files must be plain text",
        ) from exc
    finally:
        text.close()


class _ZstdReader(io.RawIOBase):
    """Streaming zstd reader over all frames that notices a truncated last frame.

    ``zstandard``'s ``stream_reader`` returns a cut frame's bytes without complaint; this one
    raises ``zstandard.ZstdError`` when the input ends inside a frame.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._file = path.open("rb")
        self._decompressor = zstandard.ZstdDecompressor()
        self._obj = self._decompressor.decompressobj()
        self._in_frame = False
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        while not self._pending:
            block = self._file.read(CHUNK_SIZE)
            if not block:
                if self._in_frame:
                    raise zstandard.ZstdError("input ends inside a zstd frame")
                return b""
            self._pending = self._feed(block)
        if size is None or size < 0:
            size = len(self._pending)
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def _feed(self, block: bytes) -> bytes:
        out = []
        while block:
            self._in_frame = True
            out.append(self._obj.decompress(block))
            if not self._obj.eof:
                break
            self._in_frame = False
            block = self._obj.unused_data
            self._obj = self._decompressor.decompressobj()
        return b"".join(out)

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


@contextlib.contextmanager
def _open_zip(path: Path) -> Iterator[zipfile.ZipFile]:
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise NotFoundError("no such file", path=path) from None
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise InputFormatError(
            f"zip archive is truncated or corrupt ({exc})",
            path=path,
            hint="Download or copy the file again",
        ) from exc
    with archive:
        yield archive


def _member_names(archive: zipfile.ZipFile) -> list[str]:
    return [info.filename for info in archive.infolist() if not info.is_dir()]


def _pick_zip_member(path: Path, archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    members = [info for info in archive.infolist() if not info.is_dir()]
    if len(members) == 1:
        return members[0]
    for info in members:
        if info.filename.lower().endswith(FASTA_SUFFIXES):
            return info
    raise InputFormatError(
        "zip archive has no single member and no .fasta/.fa/.fna/.fas member",
        path=path,
        value=[info.filename for info in members],
        hint="Name the member to read with open_member",
    )


def _zip_member_stream(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes]:
    logger.debug("reading member %s of %s", info.filename, path)
    return archive.open(info)
