#!/usr/bin/env bash
# Checks of the house rules (docs/design.md) that ruff cannot do.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0

# Rule 7: views stay thin; database access lives in queries.py/services.py.
if grep -n "\.objects\." -- */api.py workflows/api.py 2>/dev/null; then
    echo "house rules: api.py modules must not use .objects. (move it to queries.py/services.py)"
    status=1
fi

# Compose files must stay valid (offline check with the docker-compose v1 client).
if ! command -v docker-compose >/dev/null; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null 2>&1 \
            || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null; }
    fi
fi
for compose in docker-compose.yaml slurm-dev-environment/docker-compose.yaml; do
    [ -f "$compose" ] || continue
    if command -v docker-compose >/dev/null; then
        docker-compose -f "$compose" config -q || { echo "house rules: $compose is invalid"; status=1; }
    else
        echo "house rules: docker-compose not installed; cannot validate $compose"; status=1
    fi
done
exit $status
