#!/usr/bin/env bash
# The local emgsonar stack: Prefect server, a process work pool + worker, and the web app.
#
#   scripts/stack.sh start [server|worker|api ...]   start what is missing (default: all)
#   scripts/stack.sh stop  [server|worker|api ...]   stop what this script started
#   scripts/stack.sh status
#
# Idempotent: a component that already answers its health check is left alone. Each process is
# started in its own session (setsid) with a pid file under .data/run/ and a log under
# .data/logs/; `stop` signals exactly that process group (TERM, then KILL after a timeout) and
# never anything found by name. Postgres is scripts/postgres.sh's job (./taskw run does both).
#
# Addresses: Prefect API + dashboard http://127.0.0.1:4200, web app (API, admin)
# http://127.0.0.1:8000. Override with EMGSONAR_PREFECT_PORT / EMGSONAR_APP_PORT.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
PREFECT="$ROOT/.venv/bin/prefect"
RUN_DIR="$ROOT/.data/run"
LOG_DIR="$ROOT/.data/logs"
HOST=127.0.0.1
PREFECT_PORT="${EMGSONAR_PREFECT_PORT:-4200}"
APP_PORT="${EMGSONAR_APP_PORT:-8000}"
POOL="${EMGSONAR_PREFECT__WORK_POOL:-emgsonar-pool}"

export PREFECT_HOME="${PREFECT_HOME:-$ROOT/.data/prefect}"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_API_URL="http://$HOST:$PREFECT_PORT/api"
export PREFECT_UI_API_URL="$PREFECT_API_URL"
export DJANGO_SETTINGS_MODULE=emgsonar.settings
export PYTHONUNBUFFERED=1
export EMGSONAR_PROJECT_DIR="$ROOT"
export EMGSONAR_PUBLIC_URL="${EMGSONAR_PUBLIC_URL:-http://$HOST:$APP_PORT}"

say() { printf 'stack: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

mkdir -p "$RUN_DIR" "$LOG_DIR" "$PREFECT_HOME"

pid_of() {
    # the pid recorded for a component, if that process is still alive
    local file="$RUN_DIR/$1.pid" pid
    [ -f "$file" ] || return 1
    pid="$(cat "$file")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$pid"; return 0; fi
    rm -f "$file"
    return 1
}

http_ok() {
    # true when URL answers 2xx within 2 seconds
    "$PY" - "$1" <<'PYEOF' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if 200 <= r.status < 300 else 1)
except Exception:
    sys.exit(1)
PYEOF
}

wait_until() {
    # wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.5 s
    local timeout="$1" what="$2"; shift 2
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        if [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
        sleep 0.5
    done
}

spawn() {
    # spawn NAME COMMAND...: start COMMAND detached in its own session, record its pid
    local name="$1"; shift
    local log="$LOG_DIR/$name.log"
    printf '\n=== %s: %s\n' "$(date -Is)" "$*" >>"$log"
    (cd "$ROOT" && exec setsid "$@" >>"$log" 2>&1 </dev/null) &
    echo $! >"$RUN_DIR/$name.pid"
    disown $! 2>/dev/null || true
}

server_healthy() { http_ok "http://$HOST:$PREFECT_PORT/api/health"; }
app_healthy() { http_ok "http://$HOST:$APP_PORT/api/status/"; }
worker_running() { pid_of worker >/dev/null && grep -q "started" "$LOG_DIR/worker.log" 2>/dev/null; }

start_server() {
    if server_healthy; then say "Prefect server answers on $HOST:$PREFECT_PORT"; return 0; fi
    pid_of prefect-server >/dev/null && die "Prefect server (pid $(pid_of prefect-server)) runs but does not answer; see $LOG_DIR/prefect-server.log"
    say "starting Prefect server on $HOST:$PREFECT_PORT (log: $LOG_DIR/prefect-server.log)"
    spawn prefect-server "$PREFECT" server start --host "$HOST" --port "$PREFECT_PORT"
    wait_until 90 "Prefect server" server_healthy \
        || { tail -20 "$LOG_DIR/prefect-server.log" >&2; die "Prefect server did not become healthy in 90 s"; }
    say "Prefect server up: http://$HOST:$PREFECT_PORT"
}

ensure_pool() {
    if "$PREFECT" work-pool inspect "$POOL" >/dev/null 2>&1; then return 0; fi
    say "creating work pool $POOL (type process)"
    "$PREFECT" work-pool create "$POOL" --type process >/dev/null
}

start_worker() {
    server_healthy || die "the Prefect server is not running (scripts/stack.sh start server)"
    ensure_pool
    if pid_of worker >/dev/null; then say "worker runs (pid $(pid_of worker))"; return 0; fi
    say "starting a worker on pool $POOL (log: $LOG_DIR/worker.log)"
    : >"$LOG_DIR/worker.log"
    PREFECT_WORKER_QUERY_SECONDS=1 PREFECT_WORKER_PREFETCH_SECONDS=5 \
        # run_worker refuses to start against an unmigrated database, then execs `prefect worker start`
        spawn worker "$PY" "$ROOT/manage.py" run_worker --pool "$POOL" --name "emgsonar-$(hostname)-local"
    wait_until 60 "worker" worker_running \
        || { tail -20 "$LOG_DIR/worker.log" >&2; die "the worker did not start in 60 s"; }
    say "worker up (pid $(pid_of worker))"
}

start_api() {
    if app_healthy; then say "web app answers on $HOST:$APP_PORT"; return 0; fi
    pid_of app >/dev/null && die "web app (pid $(pid_of app)) runs but does not answer; see $LOG_DIR/app.log"
    "$PY" "$ROOT/manage.py" migrate --no-input -v 0
    say "starting the web app on $HOST:$APP_PORT (log: $LOG_DIR/app.log)"
    # runserver --insecure also serves the admin's static files; a production stack uses the
    # container image (uvicorn behind a proxy), see deployment/.
    spawn app "$PY" "$ROOT/manage.py" runserver "$HOST:$APP_PORT" --noreload --insecure
    wait_until 60 "web app" app_healthy \
        || { tail -20 "$LOG_DIR/app.log" >&2; die "the web app did not answer in 60 s"; }
    say "web app up: http://$HOST:$APP_PORT/api/docs"
}

stop_one() {
    # stop NAME: TERM the process group, KILL after 20 s, reap the pid file
    local name="$1" pid
    pid="$(pid_of "$name")" || { say "$name is not running (no live pid file)"; return 0; }
    say "stopping $name (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    if ! wait_until 20 "$name to exit" bash -c "! kill -0 $pid 2>/dev/null"; then
        say "$name did not exit in 20 s; killing it"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN_DIR/$name.pid"
}

status() {
    local rc=0
    if server_healthy; then echo "prefect-server  up    http://$HOST:$PREFECT_PORT (pid $(pid_of prefect-server || echo 'not ours'))"
    else echo "prefect-server  down"; rc=1; fi
    if pid_of worker >/dev/null; then echo "worker          up    pool $POOL (pid $(pid_of worker))"
    else echo "worker          down"; rc=1; fi
    if app_healthy; then echo "app             up    http://$HOST:$APP_PORT (pid $(pid_of app || echo 'not ours'))"
    else echo "app             down"; rc=1; fi
    return $rc
}

wants() { local x; for x in "${parts[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }

cmd="${1:-status}"; shift || true
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(server worker api)

case "$cmd" in
    start)
        for p in "${parts[@]}"; do
            case "$p" in
                server) start_server ;;
                worker) start_worker ;;
                api|app) start_api ;;
                *) die "unknown component '$p' (server, worker, api)" ;;
            esac
        done ;;
    stop)
        # the app and the worker go before the server (runtime.md)
        if wants api || wants app; then stop_one app; fi
        if wants worker; then stop_one worker; fi
        if wants server; then stop_one prefect-server; fi ;;
    status) status ;;
    *) die "usage: scripts/stack.sh start|stop|status [server|worker|api ...]" ;;
esac
