"""Every module with a doctest is collected by ``pytest`` (``testpaths`` in pyproject.toml)."""

from __future__ import annotations

import tomllib

from tests.conftest import REPO_ROOT

PACKAGES = ("analyses", "emgsonar", "ena_like", "workflows")


def test_every_module_with_a_doctest_is_in_testpaths() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    testpaths = config["tool"]["pytest"]["ini_options"]["testpaths"]
    assert "--doctest-modules" in config["tool"]["pytest"]["ini_options"]["addopts"]
    collected = [REPO_ROOT / path for path in testpaths]
    with_doctests = [
        path
        for package in PACKAGES
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        if ">>> " in path.read_text()
    ]
    assert with_doctests
    left_out = [
        str(path.relative_to(REPO_ROOT))
        for path in with_doctests
        if not any(path == root or root in path.parents for root in collected)
    ]
    assert left_out == [], "add these to testpaths in pyproject.toml"
