#!/usr/bin/env bash
# Register (or update) the Prefect deployments of every emgsonar flow: deployment/prefect.yaml.
#
#   scripts/deploy_flows.sh            against PREFECT_API_URL (default http://127.0.0.1:4200/api)
#
# Idempotent: deploying again updates the deployments in place. The work pool is created when
# missing (type `process`). Workers run the flows from EMGSONAR_PROJECT_DIR (this checkout, or
# /app in the container image).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFECT="${PREFECT_BIN:-$ROOT/.venv/bin/prefect}"
[ -x "$PREFECT" ] || PREFECT="$(command -v prefect)"
POOL="${EMGSONAR_PREFECT__WORK_POOL:-emgsonar-pool}"

export PREFECT_HOME="${PREFECT_HOME:-$ROOT/.data/prefect}"
export PREFECT_API_URL="${PREFECT_API_URL:-http://127.0.0.1:4200/api}"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export EMGSONAR_PROJECT_DIR="${EMGSONAR_PROJECT_DIR:-$ROOT}"
export DJANGO_SETTINGS_MODULE=emgsonar.settings

cd "$ROOT"
if ! "$PREFECT" work-pool inspect "$POOL" >/dev/null 2>&1; then
    echo "deploy-flows: creating work pool $POOL (type process)" >&2
    "$PREFECT" work-pool create "$POOL" --type process >/dev/null
fi
"$PREFECT" --no-prompt deploy --all --prefect-file deployment/prefect.yaml
"$PREFECT" deployment ls
