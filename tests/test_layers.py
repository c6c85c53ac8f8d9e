"""The layers contract (pyproject.toml, docs/design.md "Layers") names every module of emgsonar/.

emgsonar/ holds both the bottom layer (config, errors, models, auth) and the top (the API root
and URLs that mount every app), so its modules are listed one by one; a module missing from the
list would be checked by no layer at all.
"""

from __future__ import annotations

import tomllib

from tests.conftest import REPO_ROOT


def _layers_contract() -> dict:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    [contract] = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    return contract


def test_every_emgsonar_module_is_in_a_layer() -> None:
    named = {
        module.strip()
        for layer in _layers_contract()["layers"]
        for module in layer.replace("|", ":").split(":")
    }
    package = REPO_ROOT / "emgsonar"
    present = {
        f"emgsonar.{path.stem if path.is_file() else path.name}"
        for path in package.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    assert present - named == set(), "add these modules to the layers contract in pyproject.toml"
    assert named - present - {"workflows", "ena_like", "analyses"} == set(), "stale names"


def test_the_apps_are_layered_in_the_documented_order() -> None:
    layers = _layers_contract()["layers"]
    assert layers[2:5] == ["workflows", "ena_like", "analyses"]
    design = (REPO_ROOT / "docs" / "design.md").read_text()
    order = [design.index(f"| `{app}` (") for app in ("workflows", "ena_like", "analyses")]
    assert order == sorted(order), "docs/design.md lists the layers top to bottom"
