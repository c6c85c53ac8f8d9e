"""Shared set-up of the scale benchmark: paths, the bench database, Django activation.

The benchmark never touches the development or test databases: every script takes
``--database-url`` (default :data:`DEFAULT_DATABASE_URL`) and refuses to write into a database
whose name does not contain ``bench`` unless told ``--force``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = REPO_ROOT / "bench" / "out"
RESULTS_MD = REPO_ROOT / "bench" / "RESULTS.md"
SHARED_DATA = Path(os.environ.get("EMGSONAR_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
GENBANK = SHARED_DATA / "sars-cov-2" / "MN908947.nextclade.gb"
GENOMES_FASTA = SHARED_DATA / "peers" / "sars-cov-2" / "genbank_open_1000" / "sequences.fasta.xz"
GENOMES_METADATA = SHARED_DATA / "peers" / "sars-cov-2" / "genbank_open_1000" / "metadata.tsv"
#: 1000 German genomes of 2024 (RKI/DEMIS), ~120 NT calls each: the recent lineages' profiles
GENOMES_2024_FASTA = SHARED_DATA / "sars-cov-2" / "SARS-CoV-2_1000.fasta.xz"
GENOMES_2024_METADATA = SHARED_DATA / "sars-cov-2" / "SARS-CoV-2_1000.tsv.xz"
PANGO_DIR = SHARED_DATA / "peers" / "pango"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/emgsonar_bench"


def database_name(url: str) -> str:
    """The database name of a ``postgresql://`` URL."""
    return urlsplit(url).path.lstrip("/")


def setup_django(database_url: str) -> None:
    """Point Django at ``database_url`` and activate it (call before importing models)."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emgsonar.settings")
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    import django

    django.setup()


def libpq_conninfo(database_url: str) -> str:
    """A URL psycopg accepts directly (Django-only query options removed)."""
    parts = urlsplit(database_url)
    scheme = "postgresql" if parts.scheme in {"postgres", "pgsql"} else parts.scheme
    return parts._replace(scheme=scheme).geturl()
