"""The one configuration object of emgsonar.

Every setting comes from the environment (prefix ``EMGSONAR_``, ``__`` for nesting, e.g.
``EMGSONAR_SLURM__PARTITION=debug``) or a ``.env`` file, is validated once at start-up, and is
read everywhere as ``django.conf.settings.EMGSONAR_CONFIG`` so there is exactly one place to
look. ``DATABASE_URL`` is read without the prefix because every tool in the ecosystem uses it.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

BASE_DIR = Path(__file__).resolve().parent.parent


class Executor(StrEnum):
    """Where the align step of an import runs."""

    LOCAL = "local"
    SLURM = "slurm"


class SlurmApi(StrEnum):
    """How emgsonar talks to Slurm (``EMGSONAR_SLURM__API``)."""

    #: ``sbatch``/``squeue``/``scontrol``/``scancel`` (needs the Slurm client and munge here)
    CLI = "cli"
    #: slurmrestd's REST API with a JWT (needs only HTTP to ``rest_url``)
    REST = "rest"


#: the dev cluster's config (slurm-dev-environment/up.sh); found through SLURM_CONF, not /etc
DEV_SLURM_CONF = BASE_DIR / ".data" / "slurm" / "slurm.conf"


class SlurmConfig(BaseModel):
    """How chunks are submitted to a Slurm cluster.

    ``work_dir`` must be visible under the same path on every node (a shared file system on a
    real cluster); job scripts read their input and write their results only there.
    """

    #: command-line tools or slurmrestd; both give the same job states (same tests)
    api: SlurmApi = SlurmApi.CLI

    work_dir: Path = BASE_DIR / ".data" / "slurm-work"
    partition: str | None = None
    account: str | None = None
    cpus_per_job: int = 1
    memory_mb_per_job: int = 1024
    time_limit: str = "01:00:00"
    poll_seconds: float = 1.0
    #: a job not seen by the scheduler for this long is classified as lost
    lost_after_seconds: float = 120.0
    #: a job that exited 0 waits this long for its result file to show up (a shared file
    #: system shows a rename made on another node late) before it counts as failed
    result_grace_seconds: float = Field(default=60.0, ge=0)
    max_resubmits: int = 2
    #: the python that runs job scripts; default: the interpreter of the submitting process
    python: Path | None = None
    #: where Slurm's commands live, when not on PATH
    bin_dir: Path | None = None
    #: slurm.conf for our commands (``SLURM_CONF``); None: the ``SLURM_CONF`` of the
    #: environment if set, else the dev cluster's (when it exists), else Slurm's own lookup
    conf: Path | None = None
    #: where job scripts ``cd`` to and find the code (the shared checkout on a real cluster)
    project_dir: Path = BASE_DIR
    #: extra ``sbatch`` options of a site (``--qos=...``, ``--constraint=...``)
    sbatch_args: list[str] = []
    #: at most this many tasks of one job array run at once (``--array=1-N%M``); 0: no limit
    array_max_running: int = Field(default=0, ge=0)
    #: slurmrestd's address (``api = rest``); the dev cluster serves it on loopback
    rest_url: str = "http://127.0.0.1:6820"
    #: the OpenAPI plugin version slurmrestd serves (Slurm 22.05: v0.0.36 to v0.0.38)
    rest_api_version: str = "v0.0.38"
    #: user the REST requests act as; None: the user running emgsonar
    rest_user: str | None = None
    #: a JWT for ``rest_user``; None: ``scontrol token`` makes one, renewed before it expires
    rest_token: SecretStr | None = None
    #: lifespan of the tokens ``scontrol token`` makes
    rest_token_lifespan_seconds: int = Field(default=3600, ge=60)
    rest_timeout_seconds: float = 30.0

    def slurm_conf(self) -> Path | None:
        """The slurm.conf to hand to Slurm's commands as ``SLURM_CONF``, or None to let them
        find it themselves (a ``SLURM_CONF`` in the environment, or /etc/slurm).

        Why a default at all: the dev cluster never touches /etc/slurm, so without this a
        checkout's commands would find no Slurm (or a site's) instead of the one up.sh started.
        """
        if self.conf is not None:
            return self.conf
        if "SLURM_CONF" not in os.environ and DEV_SLURM_CONF.is_file():
            return DEV_SLURM_CONF
        return None


class PrefectConfig(BaseModel):
    """Names shared by deployments, workers and the API that starts flow runs."""

    work_pool: str = "emgsonar-pool"
    deployment_suffix: str = "emgsonar"
    #: the Prefect API management commands use when ``PREFECT_API_URL`` is unset and it answers
    #: (the stack's server, scripts/stack.sh); otherwise they start a temporary server (~6 s)
    api_url: str = "http://127.0.0.1:4200/api"
    #: how long a command waits for that API's health check before starting a temporary server
    probe_timeout_seconds: float = 1.0


class EnaConfig(BaseModel):
    """ENA-compatible endpoints; tests point them at a local server."""

    browser_api_url: str = "https://www.ebi.ac.uk/ena/browser/api"
    portal_api_url: str = "https://www.ebi.ac.uk/ena/portal/api"
    timeout_seconds: float = 60.0
    retries: int = 3


class ApiConfig(BaseModel):
    """Behaviour of the HTTP API."""

    #: when false, reads need an authenticated user too
    public_reads: bool = True
    #: origins (scheme://host[:port]) whose browsers may read API responses, e.g. the sonar
    #: web frontend served from its own host; JSON list in the environment
    #: (``EMGSONAR_API__CORS_ALLOWED_ORIGINS='["http://127.0.0.1:5173"]'``); empty: none
    cors_allowed_origins: list[str] = []
    default_limit: int = 100
    default_page_size: int = 20
    max_limit: int = 10_000


class ImportConfig(BaseModel):
    """Defaults of the import pipeline (each run can override them)."""

    executor: Executor = Executor.LOCAL
    chunk_size: int = 500
    #: processes for the local executor; 0 means one per core
    jobs: int = 0
    download_dir: Path = BASE_DIR / ".data" / "downloads"
    work_dir: Path = BASE_DIR / ".data" / "work"
    #: directories whose files ``POST /api/imports/`` may read (after resolving symlinks and
    #: ``..``); JSON list in the environment
    #: (``EMGSONAR_IMPORTS__ALLOWED_ROOTS='["/data/incoming"]'``). Default: the upload inbox
    #: ``.data/imports`` and the bundled test data ``../shared/data`` of the demo. The command
    #: line and the dashboard (operators) read any path.
    allowed_roots: list[Path] = [
        BASE_DIR / ".data" / "imports",
        BASE_DIR.parent / "shared" / "data",
    ]
    #: URLs ``POST /api/imports/`` may fetch: ``http(s)://`` URLs that start with one of these
    #: (compared after parsing; a prefix ends at a ``/``); empty: none. ``ena:`` sources go to
    #: ``EMGSONAR_ENA__BROWSER_API_URL`` only and are always allowed.
    allowed_url_prefixes: list[str] = []
    #: seconds between two heartbeats of a running import (written by its process)
    heartbeat_seconds: float = Field(default=30.0, gt=0)
    #: a running import on another host with no heartbeat for this long is marked failed
    #: (on the same host its process is looked up instead)
    stale_after_seconds: float = Field(default=300.0, gt=0)


class EmgsonarConfig(BaseSettings):
    """All settings of an emgsonar installation."""

    model_config = SettingsConfigDict(
        env_prefix="EMGSONAR_",
        env_nested_delimiter="__",
        env_file=BASE_DIR / ".env",
        extra="ignore",
    )

    debug: bool = False
    secret_key: str = Field(
        default="insecure-dev-key-change-me-in-production",
        description="Django SECRET_KEY; set EMGSONAR_SECRET_KEY in production",
    )
    allowed_hosts: list[str] = ["127.0.0.1", "localhost", "testserver"]
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/emgsonar",
        validation_alias=AliasChoices("DATABASE_URL", "EMGSONAR_DATABASE_URL"),
    )
    data_dir: Path = BASE_DIR / ".data"
    slurm: SlurmConfig = SlurmConfig()
    prefect: PrefectConfig = PrefectConfig()
    ena: EnaConfig = EnaConfig()
    api: ApiConfig = ApiConfig()
    imports: ImportConfig = ImportConfig()

    def import_jobs(self) -> int:
        """Processes for the local executor, resolving 0 to the number of cores."""
        return self.imports.jobs or (os.cpu_count() or 1)
