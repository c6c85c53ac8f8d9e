"""emgsonar: a genomic-surveillance backend (Django + Ninja + Prefect + Slurm)."""

__version__ = "0.1.0"
