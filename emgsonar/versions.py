"""Versions of the tools that produce stored results, recorded on every import run."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

import emgsonar

_PACKAGES = ("mappy", "biopython", "django", "prefect", "psycopg")


def tool_versions() -> dict[str, str]:
    """emgsonar, Python and the packages whose behaviour shapes the calls and the loading.

    mappy's version is minimap2's (the binding ships its own copy), so alignments can be traced
    to the aligner that made them.
    """
    found = {"emgsonar": emgsonar.__version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found
