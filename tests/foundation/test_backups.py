"""Backups that restore: ``manage.py backup`` then ``manage.py restore`` gives the same database.

"Same" is checked without pg_dump's help: every table of the source and the restored database
is read back row by row (each row's text form, sorted, hashed) together with every sequence's
position, so a restore that lost a table, a row, a column value or a sequence would differ.
The database holds the synthetic dataset (reference, lineages, samples with properties, ranges,
arrays, JSON), an import run, a user and a token.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from psycopg import sql

from emgsonar.backups import Server
from emgsonar.models import ApiToken, ImportRun
from tests.api.synthetic import build
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.django_db(transaction=True)


def _server() -> Server:
    return Server.from_django(connection.settings_dict)


def table_contents(dbname: str) -> dict[str, tuple[int, str]]:
    """``{table: (rows, md5 of the sorted row texts)}`` plus ``{"seq:<name>": (last_value, "")}``
    for every table and sequence of the public schema."""
    out: dict[str, tuple[int, str]] = {}
    with _server().connect(dbname) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        for table in tables:
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) "
                "FROM {} AS t"
            ).format(sql.Identifier(table))
            out[table] = tuple(conn.execute(query).fetchone())
        for name, last in conn.execute(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
        ):
            out[f"seq:{name}"] = (last or 0, "")
    return out


@pytest.fixture
def populated(transactional_db, shared_data: Path) -> str:
    """The test database with data in every kind of column; returns its name."""
    build(shared_data)
    user = User.objects.create_user("curator", password="x-Backup-1")
    ApiToken.issue(user, "backup test")
    ImportRun.objects.create(kind="samples", state="completed", summary={"counts": {"new": 6}})
    return connection.settings_dict["NAME"]


@pytest.fixture
def restored_name() -> str:
    name = f"{connection.settings_dict['NAME']}_restored"
    _drop(name)
    yield name
    _drop(name)


def _drop(name: str) -> None:
    with _server().connect("postgres") as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _exists(name: str) -> bool:
    with _server().connect("postgres") as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone())


def test_backup_then_restore_gives_an_identical_database(
    populated: str, restored_name: str, tmp_path: Path
) -> None:
    source = table_contents(populated)
    assert source["ena_like_sample"][0] == 6 and source["auth_user"][0] == 1

    dump = tmp_path / "emgsonar.dump"
    call_command("backup", "--output", str(dump))
    assert dump.read_bytes().startswith(b"PGDMP")
    assert (tmp_path / "emgsonar.dump.sha256").read_text().split()[1] == "emgsonar.dump"
    assert not list(tmp_path.glob("*.part"))

    call_command("restore", str(dump), "--into", restored_name)

    restored = table_contents(restored_name)
    assert restored == source
    assert set(restored) >= {"analyses_alignment", "ena_like_sample", "emgsonar_importrun"}


def test_taskw_backup_writes_into_the_data_dir_by_default(populated: str, tmp_path: Path) -> None:
    """The command as ``./taskw backup`` runs it (a process of its own, default location)."""
    db = connection.settings_dict
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "EMGSONAR_DATA_DIR": str(tmp_path / "data"),
        "DJANGO_SETTINGS_MODULE": "emgsonar.settings",
    }
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "manage.py"), "backup"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (written,) = (tmp_path / "data" / "backups").glob(f"emgsonar-{db['NAME']}-*.dump")
    assert str(written) in proc.stdout and "restore with: ./taskw restore " in proc.stdout


def test_restore_refuses_a_database_with_data_and_changes_nothing(
    populated: str, tmp_path: Path
) -> None:
    dump = tmp_path / "b.dump"
    call_command("backup", "--output", str(dump))
    before = table_contents(populated)
    with pytest.raises(CommandError, match=r"holds tables already; nothing was restored.*--into"):
        call_command("restore", str(dump))  # into the configured database, which has data
    assert table_contents(populated) == before


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", r"no backup file .*missing\.dump"),
        ("not a dump", r"not a pg_dump custom-format archive"),
        ("cut", r"does not match its checksum"),
        ("cut, no checksum", r"not a readable pg_dump archive|nothing was restored"),
    ],
)
def test_a_damaged_backup_is_refused_and_nothing_is_half_restored(
    populated: str, restored_name: str, tmp_path: Path, damage: str, message: str
) -> None:
    dump = tmp_path / "b.dump"
    call_command("backup", "--output", str(dump))
    target = dump
    if damage == "missing":
        target = tmp_path / "missing.dump"
    elif damage == "not a dump":
        target.write_text("name\tlineage\nS1\tBA.1\n")
    else:
        data = dump.read_bytes()
        dump.write_bytes(data[: len(data) * 2 // 3])
        if damage == "cut, no checksum":
            (tmp_path / "b.dump.sha256").unlink()
    with pytest.raises(CommandError, match=message):
        call_command("restore", str(target), "--into", restored_name)
    assert not _exists(restored_name)  # the database made for the restore is gone again


def test_backup_never_overwrites_a_file(populated: str, tmp_path: Path) -> None:
    dump = tmp_path / "b.dump"
    dump.write_text("an older backup")
    with pytest.raises(CommandError, match="exists already"):
        call_command("backup", "--output", str(dump))
    assert dump.read_text() == "an older backup"


def test_replace_restores_over_data_when_no_one_is_connected(
    populated: str, restored_name: str, tmp_path: Path
) -> None:
    dump = tmp_path / "b.dump"
    call_command("backup", "--output", str(dump))
    call_command("restore", str(dump), "--into", restored_name)
    with psycopg.connect(
        **{k: v for k, v in _conninfo(restored_name).items() if v}, autocommit=True
    ) as conn:
        conn.execute("DELETE FROM ena_like_sampleproperty")
    assert table_contents(restored_name) != table_contents(populated)  # the check sees it
    call_command("restore", str(dump), "--into", restored_name, "--replace")
    assert table_contents(restored_name) == table_contents(populated)


def _conninfo(dbname: str) -> dict[str, str]:
    s = _server()
    return {"host": s.host, "port": s.port, "user": s.user, "dbname": dbname}
