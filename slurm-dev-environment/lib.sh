# Shared by up.sh, down.sh and status.sh: paths, ports and small helpers. Sourced, never run.
# shellcheck shell=bash

SLURM_DEV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SLURM_DEV_DIR/.." && pwd)"
# All of Slurm's state, spool, logs and pid files live here (git-ignored via .data/).
STATE_DIR="${EMGSONAR_SLURM_STATE_DIR:-$REPO_DIR/.data/slurm}"
CONF="$STATE_DIR/slurm.conf"
# Every Slurm command of these scripts reads our config through SLURM_CONF; nothing is ever
# written to the machine's /etc/slurm (a site's own Slurm, or another checkout, may live there).
export SLURM_CONF="$CONF"
# Ports, in this order: EMGSONAR_SLURM_{CTLD,NODE,REST}_PORT (explicit: up.sh fails loudly when
# one is taken); else the ports this checkout chose before (PORTS_FILE); else Slurm's defaults
# 6817/6818/6820 when all three are free; else the first free set 100 higher (6917/6918/6920,
# ...). The choice is kept in PORTS_FILE, so a second checkout on the same machine (a CI clone
# beside a developer's tree) gets a cluster of its own instead of failing or, worse, using the
# other one.
PORTS_FILE="$STATE_DIR/ports.env"
CTLD_PID="$STATE_DIR/run/slurmctld.pid"
SLURMD_PID="$STATE_DIR/run/slurmd.pid"
REST_PID="$STATE_DIR/run/slurmrestd.pid"
# written only when up.sh started munged itself (munged is machine-wide; it may be someone else's)
MUNGE_PID="$STATE_DIR/run/munged.pid"
LOG_DIR="$STATE_DIR/log"
# an older up.sh symlinked this to our config; up.sh and down.sh remove such a link (only ours)
ETC_CONF=/etc/slurm/slurm.conf

log() { echo "slurm-dev: $*" >&2; }

# pid_alive FILE NAME: true when FILE holds the pid of a live process called NAME.
pid_alive() {
    local file=$1 name=$2 pid
    [[ -s $file ]] || return 1
    pid=$(<"$file")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]]
}

# stop_by_pid FILE NAME: TERM the daemon, wait up to 15 s, then KILL; fine when not running.
# Only the pid in OUR pid file is ever signalled, never a process found by name.
stop_by_pid() {
    local file=$1 name=$2 pid
    if ! pid_alive "$file" "$name"; then
        rm -f "$file"
        return 0
    fi
    pid=$(<"$file")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) ignored TERM for 15 s; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
    log "stopped $name (pid $pid)"
}

# port_holder PORT: "name (pid N)" of the process listening on TCP PORT, "" when it is free.
port_holder() {
    local line
    line=$(ss -Hltnp "sport = :$1" 2>/dev/null | head -n1)
    [[ -n $line ]] || return 0
    if [[ $line =~ users:\(\(\"([^\"]+)\",pid=([0-9]+) ]]; then
        echo "${BASH_REMATCH[1]} (pid ${BASH_REMATCH[2]})"
    else
        echo "an unknown process"
    fi
}

# holds_port FILE NAME PORT: the daemon of our pid file is the one listening on PORT.
holds_port() {
    local pid
    pid_alive "$1" "$2" || return 1
    pid=$(<"$1")
    ss -Hltnp "sport = :$3" 2>/dev/null | grep -q "pid=$pid,"
}

munge_ok() { command -v munge >/dev/null && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

# ctld_ours: a controller answers on our port AND it is ours (its StateSaveLocation is our
# state directory), not another cluster that happens to listen there.
ctld_ours() {
    scontrol show config 2>/dev/null | grep -qE "^StateSaveLocation += $STATE_DIR/state$"
}

# node_state: the short state of our node as our controller reports it (idle, mix, down*, ...).
node_state() { sinfo -h -n localhost -o %t 2>/dev/null | head -n1; }

# rest_ok: our slurmrestd answers a token-authenticated ping (python3: curl may be missing).
rest_ok() {
    local token
    token=$(scontrol token lifespan=60 2>/dev/null | sed -n 's/^SLURM_JWT=//p')
    [[ -n $token ]] || return 1
    python3 - "$REST_PORT" "$(id -un)" "$token" <<'PY' 2>/dev/null
import sys, urllib.request
port, user, token = sys.argv[1:]
request = urllib.request.Request(
    f"http://127.0.0.1:{port}/slurm/v0.0.38/ping",
    headers={"X-SLURM-USER-NAME": user, "X-SLURM-USER-TOKEN": token},
)
with urllib.request.urlopen(request, timeout=5) as response:
    sys.exit(0 if b'"ping"' in response.read() else 1)
PY
}

# choose_ports: set CTLD_PORT, NODE_PORT and REST_PORT (see PORTS_FILE above); writes PORTS_FILE
# only for an automatic choice.
choose_ports() {
    if [[ -n ${EMGSONAR_SLURM_CTLD_PORT:-}${EMGSONAR_SLURM_NODE_PORT:-}${EMGSONAR_SLURM_REST_PORT:-} ]]; then
        CTLD_PORT="${EMGSONAR_SLURM_CTLD_PORT:-6817}"
        NODE_PORT="${EMGSONAR_SLURM_NODE_PORT:-6818}"
        REST_PORT="${EMGSONAR_SLURM_REST_PORT:-6820}"
        return 0
    fi
    if [[ -s $PORTS_FILE ]]; then
        # shellcheck source=/dev/null
        source "$PORTS_FILE"
        return 0
    fi
    local base
    if [[ -s $CONF ]] && grep -q "^SlurmctldPort=" "$CONF"; then
        # a cluster of this checkout from before PORTS_FILE existed: keep its ports
        CTLD_PORT=$(sed -n 's/^SlurmctldPort=//p' "$CONF")
        NODE_PORT=$(sed -n 's/^SlurmdPort=//p' "$CONF")
        REST_PORT=$((CTLD_PORT + 3))
    else
        for base in $(seq 6817 100 9817); do
            if [[ -z $(port_holder "$base") && -z $(port_holder $((base + 1))) \
                && -z $(port_holder $((base + 3))) ]]; then
                break
            fi
        done
        CTLD_PORT=$base NODE_PORT=$((base + 1)) REST_PORT=$((base + 3))
        [[ $CTLD_PORT == 6817 ]] || log "Slurm's default ports are taken; this checkout's cluster uses $CTLD_PORT/$NODE_PORT/$REST_PORT"
    fi
    mkdir -p "$STATE_DIR"
    printf 'CTLD_PORT=%s\nNODE_PORT=%s\nREST_PORT=%s\n' "$CTLD_PORT" "$NODE_PORT" "$REST_PORT" >"$PORTS_FILE"
}
choose_ports
