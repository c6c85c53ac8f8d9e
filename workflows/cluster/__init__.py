"""Run units of work (an import's chunks) on a cluster, behind one small interface.

No Prefect here (an import-linter contract enforces it), so the code is the same whether a
flow, a test or a shell calls it:

* :mod:`.backend` — the contract every backend keeps: :class:`~.backend.JobSpec`,
  :class:`~.backend.JobState`, :class:`~.backend.JobStatus`, :class:`~.backend.ArraySpec`
  (many tasks as one job array), the generated job scripts;
* :mod:`.slurm` — Slurm through ``sbatch``/``scontrol``/``squeue``;
* :mod:`.slurmrest` — Slurm through slurmrestd's REST API (JWT), same scripts and states;
* :mod:`.local` — subprocesses of this process, running the same script;
* :mod:`.jobs` — jobs recorded in the database (attach-or-submit, wait, resubmit); the only
  module here that needs Django, because the rows are :class:`workflows.models.ClusterJob`.

The backends import neither Django nor Prefect, so they run on any node and are tested
without settings.
"""
