"""A local HTTP server that plays file host and ENA for the download tests (127.0.0.1 only).

It serves real content: RSV-B genomes from shared/data, re-headed the way the ENA Browser API
writes them (``>ENA|PP974170|PP974170.1 <description>.``, 60 bases a line), and Portal API TSV.
Behaviours are switched per test through :class:`ServerState`; every request is recorded so
tests can assert what was (not) asked, e.g. a ``Range`` header or the absence of a retry.
"""

from __future__ import annotations

import contextlib
import lzma
import re
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ena_like.download import download_name

ENA_BROWSER = "/ena/browser/api"
ENA_PORTAL = "/ena/portal/api"


@dataclass
class Record:
    """One sequence as ENA knows it."""

    accession: str  # without version
    version: int
    description: str
    sequence: str

    @property
    def fasta(self) -> bytes:
        """The record exactly as ENA's Browser API writes it."""
        lines = [f">ENA|{self.accession}|{self.accession}.{self.version} {self.description}."]
        lines += [self.sequence[i : i + 60] for i in range(0, len(self.sequence), 60)]
        return ("\n".join(lines) + "\n").encode()


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class ServerState:
    """What the server holds and how it misbehaves; tests change it before making requests."""

    files: dict[str, bytes] = field(default_factory=dict)
    records: dict[str, Record] = field(default_factory=dict)
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    #: /drop-once/<name>: the first GET sends this many body bytes, then closes the connection
    drop_after: int = 1000
    dropped: set[str] = field(default_factory=set)
    #: /fail/<route>: this many 503 answers before the route answers
    failures_before_success: int = 1
    failures: dict[str, int] = field(default_factory=dict)
    #: ENA answers a batch containing an unknown accession with 400 (else it leaves it out)
    ena_strict_batches: bool = False
    #: Range requests are answered with the whole file (200), like a server without ranges
    ignore_range: bool = False
    #: /held/<name>: a GET without Range sends this many body bytes, then waits for ``release``
    #: (so a test can act while a download is under way); a Range request is served at once
    hold_after: int = 1000
    release: threading.Event = field(default_factory=threading.Event)
    #: path -> Location: answered with a 302 (checked before any other route)
    redirects: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        state = self.server.state
        with state.lock:
            state.requests.append(Recorded("GET", self.path, dict(self.headers.items())))
        self._route(urllib.parse.urlsplit(self.path).path)

    def _route(self, path: str) -> None:
        if path in self.server.state.redirects:
            self.send_response(302)
            self.send_header("Location", self.server.state.redirects[path])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.startswith("/held/"):
            self._held(path.removeprefix("/held/"))
        elif path.startswith("/files/"):
            self._send_file(path.removeprefix("/files/"))
        elif path.startswith("/drop-once/"):
            self._drop_once(path.removeprefix("/drop-once/"))
        elif path.startswith("/fail/"):
            self._fail_then_route(path.removeprefix("/fail"))
        elif path.startswith(f"{ENA_BROWSER}/fasta/"):
            self._ena_fasta(urllib.parse.unquote(path.removeprefix(f"{ENA_BROWSER}/fasta/")))
        elif path == f"{ENA_PORTAL}/search":
            self._ena_search()
        else:
            self._send(404, b"<html><body>Not Found</body></html>", "text/html")

    # ---------------------------------------------------------------------------- plain files

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _send_file(self, name: str) -> None:
        state = self.server.state
        if name not in state.files:
            self._send(404, b"<html><body>Not Found</body></html>", "text/html")
            return
        body = state.files[name]
        etag = f'"{len(body)}-{hash(body) & 0xFFFF:x}"'
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if_range = self.headers.get("If-Range")
        if match and not state.ignore_range and (if_range is None or if_range == etag):
            start = int(match.group(1))
            if start >= len(body):
                self._send(416, b"", "text/plain", Content_Range=f"bytes */{len(body)}")
                return
            self._send(
                206,
                body[start:],
                "application/octet-stream",
                Content_Range=f"bytes {start}-{len(body) - 1}/{len(body)}",
                ETag=etag,
            )
            return
        self._send(200, body, "application/octet-stream", ETag=etag, Accept_Ranges="bytes")

    def _drop_once(self, name: str) -> None:
        state = self.server.state
        with state.lock:
            first = name not in state.dropped
            state.dropped.add(name)
        if not first:
            self._send_file(name)
            return
        body = state.files[name]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", f'"{len(body)}-{hash(body) & 0xFFFF:x}"')
        self.end_headers()
        self.wfile.write(body[: state.drop_after])
        self.wfile.flush()
        self.close_connection = True  # the client sees a short body

    def _held(self, name: str) -> None:
        state = self.server.state
        if "Range" in self.headers:
            self._send_file(name)
            return
        body = state.files[name]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", f'"{len(body)}-{hash(body) & 0xFFFF:x}"')
        self.end_headers()
        with contextlib.suppress(OSError):  # the client may be killed meanwhile
            self.wfile.write(body[: state.hold_after])
            self.wfile.flush()
            state.release.wait(60)
            self.wfile.write(body[state.hold_after :])

    def _fail_then_route(self, rest: str) -> None:
        """``/fail/<route>``: 503 for the first answers, then whatever ``<route>`` answers."""
        state = self.server.state
        with state.lock:
            count = state.failures.get(rest, 0)
            state.failures[rest] = count + 1
        if count < state.failures_before_success:
            self._send(503, b"Service Unavailable", "text/plain", Retry_After="0")
            return
        self._route(rest)

    # ---------------------------------------------------------------------------- ENA

    def _ena_fasta(self, accessions: str) -> None:
        """Browser API: known records in request order; unknown ones left out (ENA's way),
        a single unknown accession → 404, or a 400 for the whole batch in strict mode."""
        state = self.server.state
        wanted = [acc for acc in accessions.split(",") if acc]
        found: list[Record] = []
        unknown: list[str] = []
        for acc in wanted:
            base, _, version = acc.partition(".")
            record = state.records.get(base)
            if record is None or (version and int(version) != record.version):
                unknown.append(acc)
            else:
                found.append(record)
        if unknown and (len(wanted) == 1 or state.ena_strict_batches):
            status = 404 if len(wanted) == 1 else 400
            message = f'{{"message": "Accession(s) not found: {",".join(unknown)}"}}'
            self._send(status, message.encode(), "application/json")
            return
        self._send(200, b"".join(r.fasta for r in found), "text/plain")

    def _ena_search(self) -> None:
        """Portal API ``/search`` with ``query=accession="A" OR accession="B"``, TSV out."""
        state = self.server.state
        params = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        fields = params["fields"][0].split(",")
        unknown_fields = [f for f in fields if f not in ("accession", "country", "collection_date")]
        if unknown_fields or params.get("format") != ["tsv"]:
            message = f'{{"message": "Invalid field(s) provided: {",".join(unknown_fields)}"}}'
            self._send(400, message.encode(), "application/json")
            return
        accessions = re.findall(r'accession="([^"]+)"', params["query"][0])
        rows = [state.metadata[acc] for acc in accessions if acc in state.metadata]
        if not rows:
            self._send(200, b"", "text/plain")  # ENA: empty body, not even a header line
            return
        lines = ["\t".join(fields)] + ["\t".join(row.get(f, "") for f in fields) for row in rows]
        self._send(200, ("\n".join(lines) + "\n").encode(), "text/plain")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: ServerState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


@contextlib.contextmanager
def serving(state: ServerState) -> Iterator[LocalServer]:
    """Run a server on a free port of 127.0.0.1 for the duration of the block."""
    httpd = _Server(state)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    host, port = httpd.server_address[:2]
    try:
        yield LocalServer(state, f"http://{host}:{port}")
    finally:
        state.release.set()  # no handler left waiting
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@dataclass
class LocalServer:
    state: ServerState
    url: str

    def file_url(self, route: str, name: str) -> str:
        return f"{self.url}/{route}/{name}"

    @property
    def ena_base(self) -> str:
        return f"{self.url}{ENA_BROWSER}"

    @property
    def portal_base(self) -> str:
        return f"{self.url}{ENA_PORTAL}"


def rsv_records(shared_data: Path) -> list[Record]:
    """The 20 real RSV-B genomes, as ENA records (their INSDC accessions and descriptions)."""
    text = lzma.decompress((shared_data / "rsv" / "RSV_20.fasta.xz").read_bytes()).decode()
    records = []
    for chunk in text.split(">")[1:]:
        header, _, body = chunk.partition("\n")
        accession_version, _, description = header.partition(" |")
        accession, _, version = accession_version.partition(".")
        sequence = "".join(body.split())
        records.append(Record(accession, int(version), description.strip(), sequence))
    return records


def part_path(dest_dir: Path, url: str) -> Path:
    """A part file as an ended download of ``url`` leaves it (``<name>.<random>.part``)."""
    return dest_dir / (download_name(url) + ".ended4x2q.part")


def part_files(dest_dir: Path) -> list[Path]:
    """Part files of any download in ``dest_dir``."""
    return sorted(dest_dir.glob("*.part"))
