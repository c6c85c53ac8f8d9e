#!/usr/bin/env bash
# Run once by the postgres image on an empty volume (docker-entrypoint-initdb.d): include
# emgsonar's settings (deployment/postgres/emgsonar.conf, mounted at /etc/postgresql/) and size
# shared_buffers / effective_cache_size from the RAM the container sees, as scripts/postgres.sh
# does for the project-local cluster. The entrypoint restarts the server after init scripts.
set -euo pipefail
kb="$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
shared=$(( kb / 4 / 1024 ))
[ "$shared" -lt 128 ] && shared=128
[ "$shared" -gt 8192 ] && shared=8192
cat >> "$PGDATA/postgresql.conf" <<CONF

# emgsonar's settings (deployment/compose/settings.sh)
include_if_exists = '/etc/postgresql/emgsonar.conf'
shared_buffers = ${shared}MB
effective_cache_size = $(( kb / 2 / 1024 ))MB
CONF
