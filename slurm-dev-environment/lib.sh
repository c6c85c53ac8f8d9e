# Shared by up.sh, down.sh and status.sh: paths and small helpers. Sourced, never run.
# shellcheck shell=bash

SLURM_DEV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SLURM_DEV_DIR/.." && pwd)"
# All of Slurm's state, spool, logs and pid files live here (git-ignored via .data/).
STATE_DIR="${EMGSONAR_SLURM_STATE_DIR:-$REPO_DIR/.data/slurm}"
CONF="$STATE_DIR/slurm.conf"
# Our own commands always name the config explicitly; /etc/slurm/slurm.conf is a symlink to it
# (made by up.sh when root and no site config is there) so that plain `sbatch` works too.
export SLURM_CONF="$CONF"
ETC_CONF=/etc/slurm/slurm.conf
CTLD_PID="$STATE_DIR/run/slurmctld.pid"
SLURMD_PID="$STATE_DIR/run/slurmd.pid"
MUNGE_PID=/run/munge/munged.pid

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
stop_by_pid() {
    local file=$1 name=$2 pid i
    if ! pid_alive "$file" "$name"; then
        rm -f "$file"
        return 0
    fi
    pid=$(<"$file")
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 150); do
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

munge_ok() { command -v munge >/dev/null && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
ctld_up() { scontrol ping 2>/dev/null | grep -q "is UP"; }
# node_state: the short state of our node as sinfo prints it (idle, mix, alloc, down*, ...).
node_state() { sinfo -h -n localhost -o %t 2>/dev/null | head -n1; }
