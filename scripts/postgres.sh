#!/usr/bin/env bash
# Make sure a Postgres answers for emgsonar, without ever needing SQLite.
#
#   scripts/postgres.sh ensure   use DATABASE_URL if set; else a server on 127.0.0.1:5432;
#                                else start a project-local cluster under .data/postgres
#                                (installing Debian's postgresql when root and missing), with
#                                the settings of deployment/postgres/emgsonar.conf and
#                                shared_buffers sized from RAM
#   scripts/postgres.sh stop     stop the project-local cluster (never a system one)
#   scripts/postgres.sh status
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGDATA_DIR="${EMGSONAR_PGDATA:-$ROOT/.data/postgres}"
PORT="${EMGSONAR_PGPORT:-5432}"
say() { printf 'postgres: %s\n' "$*" >&2; }

answers() {
    # true when a server accepts connections on 127.0.0.1:$PORT
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

pg_bin() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    [ -n "$dir" ] && echo "$dir"
}

memory_settings() {
    # shared_buffers = 25 % of RAM (128 MB .. 8 GB), effective_cache_size = 50 %: the sizes
    # deployment/postgres/emgsonar.conf leaves to the machine (why: docs/design-performance.md)
    local kb shared
    kb="$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
    shared=$(( kb / 4 / 1024 ))
    [ "$shared" -lt 128 ] && shared=128
    [ "$shared" -gt 8192 ] && shared=8192
    echo "-c shared_buffers=${shared}MB -c effective_cache_size=$(( kb / 2 / 1024 ))MB"
}

install_settings() {
    # Our settings file, included from postgresql.conf; copied on every start so the cluster
    # follows the repository's version of it.
    run_pg cp "$ROOT/deployment/postgres/emgsonar.conf" "$PGDATA_DIR/emgsonar.conf"
    if ! grep -q "^include_if_exists = 'emgsonar.conf'" "$PGDATA_DIR/postgresql.conf"; then
        printf "\n# emgsonar's settings (scripts/postgres.sh)\ninclude_if_exists = 'emgsonar.conf'\n" |
            run_pg tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null
    fi
}

run_pg() {
    # Root may not run postgres: use the postgres system user, as Debian does.
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install_server() {
    if [ -n "$(pg_bin)" ]; then return 0; fi
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        say "installing Debian's postgresql server"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            postgresql postgresql-contrib >/dev/null
    else
        say "ERROR: no PostgreSQL server binaries; run: sudo apt-get install postgresql postgresql-contrib"
        say "or set DATABASE_URL=postgresql://USER@HOST:PORT/emgsonar to use an existing server"
        exit 1
    fi
}

start_local() {
    install_server
    if answers; then return 0; fi   # the package may have started Debian's own cluster
    local bin sockdir
    bin="$(pg_bin)"
    sockdir="$PGDATA_DIR/../postgres-socket"
    mkdir -p "$PGDATA_DIR" "$sockdir"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$PGDATA_DIR" "$sockdir"
        if ! runuser -u postgres -- test -w "$PGDATA_DIR"; then
            say "ERROR: the postgres user cannot write $PGDATA_DIR (a parent directory is private);"
            say "set EMGSONAR_PGDATA to a directory it can reach, or DATABASE_URL to a server"
            exit 1
        fi
    fi
    if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
        say "initialising a project-local cluster in $PGDATA_DIR"
        run_pg "$bin/initdb" -D "$PGDATA_DIR" --auth=trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    install_settings
    say "starting the project-local cluster on 127.0.0.1:$PORT ($(memory_settings))"
    run_pg "$bin/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" \
        -o "-p $PORT -k $(cd "$sockdir" && pwd) -c listen_addresses=127.0.0.1 $(memory_settings)" \
        -w start >/dev/null
}

case "${1:-ensure}" in
    ensure)
        if [ -n "${DATABASE_URL:-}" ]; then
            say "using DATABASE_URL"
        elif answers; then
            say "using the server on 127.0.0.1:$PORT"
        else
            start_local
        fi
        ;;
    stop)
        if [ -f "$PGDATA_DIR/postmaster.pid" ]; then
            run_pg "$(pg_bin)/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null && say "stopped"
        else
            say "no project-local cluster running"
        fi
        ;;
    status)
        if answers; then say "a server answers on 127.0.0.1:$PORT"; else say "nothing on 127.0.0.1:$PORT"; fi
        ;;
    *) say "usage: $0 ensure|stop|status"; exit 2 ;;
esac
