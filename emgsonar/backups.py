"""Backups of the emgsonar database that restore: ``pg_dump`` custom format, ``pg_restore``.

Why a logical dump and not a base backup with WAL archiving (pgBackRest, point-in-time
recovery): it works against whatever server ``DATABASE_URL`` names — the project-local cluster,
a shared server, a managed one — without changing its configuration or restarting it; it is
one consistent snapshot (``pg_dump`` reads in one repeatable-read transaction, so an import
running meanwhile is either in it or not); the file restores on the same or a newer Postgres
major version; and a restore can go into a new database next to the live one. What it cannot
do is recover to a moment between two backups: a site that needs that runs WAL archiving on
its server (``deployment/backups.md``).

Everything durable lives in this database: samples, sequences' calls, references, lineages,
users, tokens and every import run with its summary. The Prefect server's database (flow-run
history, logs, artifacts) and the work directories (downloads, chunks, cluster results) are
disposable: an import run's own record is in ``ImportRun``, deployments are registered again by
``./taskw deploy-flows``, and a re-run downloads and aligns again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from emgsonar.errors import EmgsonarError

#: ``pg_dump``'s custom format starts with these bytes
ARCHIVE_MAGIC = b"PGDMP"
#: where ``backup`` writes when no ``--output`` is given: under ``EMGSONAR_DATA_DIR``
BACKUP_SUBDIR = "backups"


class BackupError(EmgsonarError):
    """A backup or restore that cannot be done as asked (the message says what to do)."""

    code = "backup_failed"


@dataclass(frozen=True)
class Server:
    """How to reach the Postgres server and which database (from Django's ``DATABASES``)."""

    host: str
    port: str
    user: str
    password: str
    name: str

    @classmethod
    def from_django(cls, db: Mapping[str, object]) -> Server:
        return cls(
            host=str(db.get("HOST") or ""),
            port=str(db.get("PORT") or ""),
            user=str(db.get("USER") or ""),
            password=str(db.get("PASSWORD") or ""),
            name=str(db["NAME"]),
        )

    def env(self) -> dict[str, str]:
        """libpq's variables for ``pg_dump``/``pg_restore`` (no password on a command line)."""
        env = dict(os.environ)
        for key, value in (
            ("PGHOST", self.host),
            ("PGPORT", self.port),
            ("PGUSER", self.user),
            ("PGPASSWORD", self.password),
        ):
            if value:
                env[key] = value
            else:
                env.pop(key, None)
        return env

    def connect(self, dbname: str | None = None) -> psycopg.Connection:
        params = {
            "host": self.host or None,
            "port": self.port or None,
            "user": self.user or None,
            "password": self.password or None,
            "dbname": dbname or self.name,
            "autocommit": True,
        }
        try:
            return psycopg.connect(**{k: v for k, v in params.items() if v is not None})
        except psycopg.OperationalError as exc:
            raise BackupError(
                f"cannot reach database '{dbname or self.name}' at {self.host}:{self.port}",
                hint=str(exc).strip().splitlines()[0] if str(exc).strip() else None,
            ) from exc

    def major_version(self) -> int:
        with self.connect("postgres") as conn:
            return int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000

    def with_name(self, name: str) -> Server:
        return Server(self.host, self.port, self.user, self.password, name)


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    sha256: str
    tables: int


def default_backup_path(backup_dir: Path, database: str, now: dt.datetime | None = None) -> Path:
    """``<dir>/emgsonar-<database>-<UTC time>.dump``: sorts by time, names its source."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return backup_dir / f"emgsonar-{database}-{stamp}.dump"


def pg_tool(name: str, server_major: int) -> Path:
    """The ``pg_dump``/``pg_restore`` that can read the server: Debian keeps one per major
    version under ``/usr/lib/postgresql/<major>/bin``; an older client than the server refuses
    to dump it, so the newest installed one at least as new as the server is taken."""
    candidates: list[tuple[int, Path]] = []
    for binary in Path("/usr/lib/postgresql").glob(f"*/bin/{name}"):
        if binary.parent.parent.name.isdigit():
            candidates.append((int(binary.parent.parent.name), binary))
    on_path = shutil.which(name)
    if on_path:
        candidates.append((_tool_major(Path(on_path)), Path(on_path)))
    usable = sorted(c for c in candidates if c[0] >= server_major)
    if not usable:
        found = ", ".join(f"{p} ({v})" for v, p in sorted(candidates)) or "none"
        raise BackupError(
            f"no {name} for PostgreSQL {server_major} or newer (found: {found})",
            hint=f"install the PostgreSQL {server_major} client (Debian: postgresql-client-"
            f"{server_major})",
        )
    return usable[-1][1]


def _tool_major(binary: Path) -> int:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"(\d+)(?:\.\d+)?", out.stdout)
    return int(match.group(1)) if match else 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _checksum_file(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def backup(server: Server, output: Path) -> BackupResult:
    """Dump ``server``'s database into ``output`` (custom format), atomically: the dump is
    written next to it and renamed when ``pg_restore --list`` has read it back, so a file with
    the final name is always a whole backup. A ``<file>.sha256`` is written beside it.

    :raises BackupError: the server cannot be reached, the output exists, or pg_dump fails.
    """
    if output.exists():
        raise BackupError(
            f"{output} exists already", hint="Name another --output, or move the old file away"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    major = server.major_version()
    partial = output.with_name(output.name + ".part")
    proc = subprocess.run(
        [pg_tool("pg_dump", major), "--format=custom", "--no-owner", "--no-privileges",
         f"--file={partial}", server.name],
        env=server.env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(
            f"pg_dump of database '{server.name}' failed: {_last_line(proc.stderr)}",
            hint="Check DATABASE_URL and that the database exists",
        )
    tables = len(_archive_tables(partial, major))
    partial.rename(output)
    digest = _sha256(output)
    _checksum_file(output).write_text(f"{digest}  {output.name}\n")
    return BackupResult(output, output.stat().st_size, digest, tables)


def _archive_tables(path: Path, major: int) -> list[str]:
    """The tables whose data the archive holds (``pg_restore --list``): reads the whole table
    of contents, so a cut or foreign file fails here."""
    proc = subprocess.run(
        [pg_tool("pg_restore", major), "--list", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise BackupError(
            f"{path} is not a readable pg_dump archive: {_last_line(proc.stderr)}",
            hint="Restore a file written by './taskw backup' (pg_dump --format=custom)",
        )
    return [line.split()[-2] for line in proc.stdout.splitlines() if " TABLE DATA " in line]


def check_archive(path: Path, major: int) -> None:
    """Refuse what cannot be a whole backup before touching any database: a missing file, a
    file that is no custom-format dump, or one whose ``.sha256`` does not match."""
    if not path.is_file():
        raise BackupError(f"no backup file {path}", hint="List them: ls .data/backups/")
    with path.open("rb") as handle:
        if handle.read(len(ARCHIVE_MAGIC)) != ARCHIVE_MAGIC:
            raise BackupError(
                f"{path} is not a pg_dump custom-format archive (it does not start with PGDMP)",
                hint="Restore a file written by './taskw backup'",
            )
    checksum = _checksum_file(path)
    if checksum.is_file():
        expected = checksum.read_text().split()[0]
        if _sha256(path) != expected:
            raise BackupError(
                f"{path} does not match its checksum in {checksum.name}: the file was changed "
                "or cut after the backup",
                hint="Restore another backup; this one is damaged",
            )
    _archive_tables(path, major)


def _database_exists(server: Server, name: str) -> bool:
    with server.connect("postgres") as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            is not None
        )


def _user_tables(server: Server, name: str) -> int:
    with server.connect(name) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()[0]


def _other_sessions(server: Server, name: str) -> int:
    with server.connect("postgres") as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchone()[0]


def _create(server: Server, name: str) -> None:
    with server.connect("postgres") as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop(server: Server, name: str) -> None:
    with server.connect("postgres") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def restore(server: Server, path: Path, into: str, replace: bool = False) -> int:
    """Restore backup ``path`` into database ``into`` in ONE transaction: it ends with the
    whole backup or, on any error, with the database as before (a database created for the
    restore is dropped again).

    ``into`` may not exist yet (it is created), may be empty, or — with ``replace`` — is
    dropped and created anew; it must then have no open sessions (stop the stack first).

    :returns: the number of tables restored.
    :raises BackupError: the file is no whole backup, or the target holds data.
    """
    major = server.major_version()
    check_archive(path, major)
    exists = _database_exists(server, into)
    if exists and _user_tables(server, into):
        if not replace:
            raise BackupError(
                f"database '{into}' holds tables already; nothing was restored",
                hint="Restore into a new database with --into NAME, or pass --replace to drop "
                "and recreate it",
            )
        sessions = _other_sessions(server, into)
        if sessions:
            raise BackupError(
                f"database '{into}' has {sessions} open session(s); nothing was restored",
                hint="Stop the web app and the worker first (./taskw stop)",
            )
        _drop(server, into)
        exists = False
    created = not exists
    if created:
        _create(server, into)
    proc = subprocess.run(
        [pg_tool("pg_restore", major), "--no-owner", "--no-privileges", "--exit-on-error",
         "--single-transaction", f"--dbname={into}", str(path)],
        env=server.env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        if created:
            _drop(server, into)
        raise BackupError(
            f"restoring {path} into '{into}' failed, nothing was restored: "
            f"{_last_line(proc.stderr)}",
            hint="Restore into a new, empty database with --into NAME",
        )
    return _user_tables(server, into)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
