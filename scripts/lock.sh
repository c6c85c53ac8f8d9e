#!/usr/bin/env bash
# Re-resolve requirements.lock from pyproject.toml in a throw-away venv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q --upgrade pip
"$tmp/venv/bin/pip" install -q ".[dev]"
{
    echo "# Exact versions every install uses (taskw, CI, Docker image). Regenerate with: ./taskw lock"
    "$tmp/venv/bin/pip" freeze --exclude-editable | grep -v '^emgsonar'
} > requirements.lock
"$tmp/venv/bin/pip" check
echo "requirements.lock updated; review: git diff requirements.lock"
