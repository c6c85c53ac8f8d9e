#!/usr/bin/env bash
# Start a one-node Slurm (munged, slurmctld, slurmd, slurmrestd) on this machine; idempotent.
#
# Everything Slurm reads or writes is under .data/slurm/ in the repository (override with
# EMGSONAR_SLURM_STATE_DIR), including its generated slurm.conf, which every command finds
# through SLURM_CONF: nothing is written to the machine's /etc/slurm. Ports (slurmctld, slurmd,
# slurmrestd on loopback): EMGSONAR_SLURM_{CTLD,NODE,REST}_PORT when set, else chosen once per
# checkout (6817/6818/6820 when free, else 100 higher; kept in .data/slurm/ports.env, lib.sh).
#
# Prints one line "slurm-dev: ready ..." on stdout only after each daemon is alive, holds its
# port and answers (the controller with our own state directory, the node idle in our
# controller's sinfo, slurmrestd a JWT-authenticated ping); otherwise exits 1 with the daemon's
# log lines and a fix. Needs root: slurmd must be able to run jobs as any user.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# slurm-wlm-jwt-plugin: auth/jwt, which slurmctld needs to accept slurmrestd's tokens
PACKAGES=(slurm-wlm slurmrestd slurm-wlm-jwt-plugin munge iproute2)
#: seconds each daemon gets to come up and answer
START_TIMEOUT=${EMGSONAR_SLURM_START_TIMEOUT:-30}

install_packages() {
    local missing=() pkg
    for pkg in "${PACKAGES[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    if [[ $EUID -ne 0 ]]; then
        log "missing: ${missing[*]}. Install them as root, then run this again:"
        log "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${PACKAGES[*]}"
        exit 1
    fi
    log "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >&2
}

# forget_etc_link: an older up.sh pointed /etc/slurm/slurm.conf at our config with a symlink;
# remove that link (only a link into our state directory: anything else is the site's).
forget_etc_link() {
    [[ -L $ETC_CONF ]] || return 0
    local target
    target=$(readlink -f "$ETC_CONF" 2>/dev/null || readlink "$ETC_CONF")
    if [[ $target == "$STATE_DIR"/* || $(readlink "$ETC_CONF") == "$STATE_DIR"/* ]]; then
        rm -f "$ETC_CONF"
        log "removed $ETC_CONF, a link to our config made by an older up.sh (SLURM_CONF now)"
    fi
}

# start_munge_prereqs: the key (shared by every host of a cluster) and munged's run directory.
start_munge_prereqs() {
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating /etc/munge/munge.key"
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile=/etc/munge/munge.key
        else
            dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
        fi
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    install -d -o munge -g munge -m 0755 /run/munge
}

# start_munge: munged is machine-wide; one that answers is used as it is (and never stopped by
# down.sh); one we start is recorded in our own pid file.
start_munge() {
    munge_ok && return 0
    start_munge_prereqs
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 1 50); do
        if munge_ok; then
            cp /run/munge/munged.pid "$MUNGE_PID" 2>/dev/null || true
            log "munged started"
            return 0
        fi
        sleep 0.1
    done
    log "munged did not start; see /var/log/munge/munged.log"
    exit 1
}

# write_jwt_key: the HS256 key slurmctld signs `scontrol token`s with (readable by root only).
write_jwt_key() {
    [[ -s $STATE_DIR/jwt.key ]] && return 0
    (umask 077 && dd if=/dev/urandom bs=32 count=1 of="$STATE_DIR/jwt.key" status=none)
}

# write_conf: render the template; prints "changed" when the file on disk changed.
write_conf() {
    local cpus mem_mb real_mem new hardware
    # the hardware as slurmd sees it; not plain nproc, which follows OMP_NUM_THREADS, so a
    # caller's environment would change the config and restart the daemons under other users
    hardware=$(slurmd -C 2>/dev/null | head -n1)
    cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$hardware")
    [[ -n $cpus ]] || cpus=$(nproc --all)
    mem_mb=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hardware")
    if [[ -z $mem_mb ]]; then
        mem_mb=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
    fi
    # leave 10% to the OS, or slurmd drains the node when free memory dips below RealMemory
    real_mem=$((mem_mb * 9 / 10))
    mkdir -p "$STATE_DIR"/{state,spool,run,log}
    chmod 0755 "$STATE_DIR" "$STATE_DIR/log" # slurmrestd runs as the slurm user
    write_jwt_key
    new="$CONF.new"
    sed -e "s|@STATE_DIR@|$STATE_DIR|g" -e "s|@CPUS@|$cpus|g" -e "s|@REAL_MEMORY@|$real_mem|g" \
        -e "s|@CTLD_PORT@|$CTLD_PORT|g" -e "s|@NODE_PORT@|$NODE_PORT|g" \
        "$SLURM_DEV_DIR/slurm.conf.template" >"$new"
    chmod 0644 "$new"
    if [[ -f $CONF ]] && cmp -s "$new" "$CONF"; then
        rm -f "$new"
        return 0
    fi
    if [[ -f $CONF ]]; then
        log "slurm.conf changes:"
        diff "$CONF" "$new" | grep '^[<>]' | sed 's/^/    /' >&2 || true
    fi
    mv "$new" "$CONF"
    echo changed
}

# fail_start NAME PORT OFFSET WHAT: say why daemon NAME did not come up, with the lines its log
# got since OFFSET that explain it (a taken port first), and how to fix it; exit 1.
fail_start() {
    local name=$1 port=$2 offset=$3 what=$4 holder lines
    local logfile="$LOG_DIR/$name.log" pidfile="$STATE_DIR/run/$name.pid"
    holder=$(port_holder "$port")
    log "$name $what; it is NOT running for this cluster ($CONF)"
    # the lines that say why: a port it could not bind first, else errors, else the end
    lines=$(tail -c +"$((offset + 1))" "$logfile" 2>/dev/null | grep -E "bind|Address already in use" | tail -n 3 || true)
    [[ -n $lines ]] || lines=$(tail -c +"$((offset + 1))" "$logfile" 2>/dev/null | grep -E "fatal|error" | tail -n 5 || true)
    [[ -n $lines ]] || lines=$(tail -c +"$((offset + 1))" "$logfile" 2>/dev/null | tail -n 10 || true)
    if [[ -n $lines ]]; then
        log "last lines of $logfile:"
        sed 's/^/    /' <<<"$lines" >&2
    fi
    if [[ -n $holder && $holder != *"(pid $(cat "$pidfile" 2>/dev/null))" ]]; then
        log "port $port is taken by $holder, which is not this cluster's $name."
        log "fix: stop that process (e.g. the other cluster's down.sh), or give this cluster other"
        log "ports: EMGSONAR_SLURM_CTLD_PORT=7817 EMGSONAR_SLURM_NODE_PORT=7818 \\"
        log "      EMGSONAR_SLURM_REST_PORT=7820 ./taskw slurm-up   (export them for later commands)"
    fi
    exit 1
}

# log_size FILE: its size in bytes (0 when missing), to show only what a new start logged.
log_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# wait_answering NAME PIDFILE PORT CHECK OFFSET: until daemon NAME (just started, or found
# running) holds PORT and CHECK passes; otherwise fail_start, saying whether it died.
wait_answering() {
    local name=$1 pidfile=$2 port=$3 check=$4 offset=$5 i
    for i in $(seq 1 $((START_TIMEOUT * 5))); do
        # for a moment after a start the pid file is missing (slurmctld writes it after it
        # forks) or names setpriv (before it execs slurmrestd)
        if ! pid_alive "$pidfile" "$name"; then
            ((i > 5)) && break
        elif holds_port "$pidfile" "$name" "$port" && "$check"; then
            return 0
        fi
        sleep 0.2
    done
    if pid_alive "$pidfile" "$name"; then
        fail_start "$name" "$port" "$offset" "is not answering after ${START_TIMEOUT} s"
    fi
    fail_start "$name" "$port" "$offset" "died"
}

start_slurmctld() {
    local offset
    offset=$(log_size "$LOG_DIR/slurmctld.log")
    if ! pid_alive "$CTLD_PID" slurmctld; then
        slurmctld -f "$CONF"
        log "slurmctld started"
    fi
    wait_answering slurmctld "$CTLD_PID" "$CTLD_PORT" ctld_ours "$offset"
}

start_slurmd() {
    local offset state resumed=0 i
    offset=$(log_size "$LOG_DIR/slurmd.log")
    if ! pid_alive "$SLURMD_PID" slurmd; then
        # the machine's hostname is not "localhost", the node's name is
        slurmd -f "$CONF" -N localhost
        log "slurmd started"
    fi
    for i in $(seq 1 $((START_TIMEOUT * 5))); do
        # slurmd writes its pid file before it binds: give it a moment, then it must hold it
        if ! pid_alive "$SLURMD_PID" slurmd; then
            ((i > 5)) && fail_start slurmd "$NODE_PORT" "$offset" "died"
        elif holds_port "$SLURMD_PID" slurmd "$NODE_PORT"; then
            state=$(node_state)
            case $state in
                idle | mix | alloc | comp) return 0 ;;
                down | down\* | drain | drain\* | drng | fail | unk\*)
                    # a node that was down when the controller last saved state stays down;
                    # after 3 s of that, resume it once (ReturnToService=2 covers most cases)
                    if ((i > 15 && resumed == 0)); then
                        scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true
                        resumed=1
                    fi
                    ;;
            esac
        fi
        sleep 0.2
    done
    fail_start slurmd "$NODE_PORT" "$offset" \
        "is not serving an idle node after ${START_TIMEOUT} s (node is '${state:-?}')"
}

# start_slurmrestd: the REST API on loopback, JWT only, as the slurm user (it refuses root).
start_slurmrestd() {
    local offset pid
    offset=$(log_size "$LOG_DIR/slurmrestd.log")
    if ! setpriv --reuid=slurm --regid=slurm --clear-groups test -r "$CONF"; then
        log "slurmrestd runs as the slurm user, which cannot read $CONF;"
        log "fix: make its directories world-readable, or use another EMGSONAR_SLURM_STATE_DIR"
        exit 1
    fi
    if ! pid_alive "$REST_PID" slurmrestd; then
        # SLURM_JWT=daemon: talk to slurmctld with the clients' tokens (auth/jwt), not munge
        SLURM_JWT=daemon setpriv --reuid=slurm --regid=slurm --clear-groups \
            slurmrestd -f "$CONF" -a rest_auth/jwt -s openapi/v0.0.38 "127.0.0.1:$REST_PORT" \
            </dev/null >>"$LOG_DIR/slurmrestd.log" 2>&1 &
        pid=$!
        echo "$pid" >"$REST_PID"
        disown "$pid" 2>/dev/null || true
        log "slurmrestd started"
    fi
    wait_answering slurmrestd "$REST_PID" "$REST_PORT" rest_ok "$offset"
}

stop_daemons() {
    stop_by_pid "$REST_PID" slurmrestd
    stop_by_pid "$SLURMD_PID" slurmd
    stop_by_pid "$CTLD_PID" slurmctld
}

usage() {
    cat >&2 <<'USAGE'
usage: up.sh [--role all|munge|slurmctld|slurmd|slurmrestd] [--foreground]
  --role        which daemons to start (default: all, on this machine)
  --foreground  run the role's daemon in the foreground (containers; not with --role all)
USAGE
    exit 2
}

# wait_for_munge_socket: containers whose munged runs in another container sharing /run/munge
wait_for_munge_socket() {
    for _ in $(seq 1 100); do
        munge_ok && return 0
        sleep 0.2
    done
    log "no munged answers on /run/munge after 20 s"
    exit 1
}

# run_role ROLE FOREGROUND: one daemon, for the containers of docker-compose.yaml.
run_role() {
    local role=$1 foreground=$2
    if [[ $role == munge ]]; then
        if ((foreground)); then
            start_munge_prereqs
            exec runuser -u munge -- /usr/sbin/munged --foreground
        fi
        start_munge
        return 0
    fi
    wait_for_munge_socket
    write_conf >/dev/null
    case $role in
        slurmctld)
            ((foreground)) && exec slurmctld -D -f "$CONF"
            start_slurmctld
            ;;
        slurmd)
            for _ in $(seq 1 150); do ctld_ours && break; sleep 0.2; done
            ((foreground)) && exec slurmd -D -f "$CONF" -N localhost
            start_slurmd
            ;;
        slurmrestd)
            for _ in $(seq 1 150); do ctld_ours && break; sleep 0.2; done
            ((foreground)) && SLURM_JWT=daemon exec setpriv --reuid=slurm --regid=slurm --clear-groups \
                slurmrestd -f "$CONF" -a rest_auth/jwt -s openapi/v0.0.38 "0.0.0.0:$REST_PORT"
            start_slurmrestd
            ;;
    esac
}

main() {
    local role=all foreground=0
    while (($#)); do
        case $1 in
            --role) role=${2:-}; shift 2 || usage ;;
            --role=*) role=${1#--role=}; shift ;;
            --foreground) foreground=1; shift ;;
            -h | --help) usage ;;
            *) log "unknown argument: $1"; usage ;;
        esac
    done
    case $role in all | munge | slurmctld | slurmd | slurmrestd) ;; *) usage ;; esac
    [[ $role == all && $foreground == 1 ]] && usage
    install_packages
    if [[ $EUID -ne 0 ]]; then
        log "must run as root (slurmd runs jobs as their users; munged needs /run/munge)"
        exit 1
    fi
    forget_etc_link
    if [[ $role != all ]]; then
        run_role "$role" "$foreground"
        return 0
    fi
    start_munge
    if [[ "$(write_conf)" == changed ]]; then
        if pid_alive "$CTLD_PID" slurmctld || pid_alive "$SLURMD_PID" slurmd; then
            log "slurm.conf changed; restarting the daemons"
        fi
        stop_daemons
    fi
    start_slurmctld
    start_slurmd
    start_slurmrestd
    echo "slurm-dev: ready (node localhost $(node_state), $(sed -n 's/^NodeName=.* CPUs=\([0-9]*\).*/\1/p' "$CONF") CPUs, ports $CTLD_PORT/$NODE_PORT/$REST_PORT, SLURM_CONF=$CONF)"
}

main "$@"
