#!/usr/bin/env bash
# Start a one-node Slurm (munged, slurmctld, slurmd) on this machine; idempotent.
#
# Everything Slurm writes goes to .data/slurm/ in the repository (override with
# EMGSONAR_SLURM_STATE_DIR). Needs root: slurmd must be able to run jobs as any user.
# Prints one line "slurm-dev: ready ..." on stdout when the node accepts jobs.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES=(slurm-wlm munge)

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurm-wlm)
    command -v munged >/dev/null || missing+=(munge)
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

start_munge() {
    if munge_ok; then
        return 0
    fi
    start_munge_prereqs
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 1 50); do
        munge_ok && { log "munged started"; return 0; }
        sleep 0.1
    done
    log "munged did not start; see /var/log/munge/munged.log"
    exit 1
}

# write_conf: render the template; prints "changed" when the file on disk changed.
write_conf() {
    local cpus mem_mb real_mem new
    cpus=$(nproc)
    mem_mb=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -n1)
    if [[ -z $mem_mb ]]; then
        mem_mb=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
    fi
    # leave 10% to the OS, or slurmd drains the node when free memory dips below RealMemory
    real_mem=$((mem_mb * 9 / 10))
    mkdir -p "$STATE_DIR"/{state,spool,run,log}
    new="$CONF.new"
    sed -e "s|@STATE_DIR@|$STATE_DIR|g" -e "s|@CPUS@|$cpus|g" -e "s|@REAL_MEMORY@|$real_mem|g" \
        "$SLURM_DEV_DIR/slurm.conf.template" >"$new"
    if [[ -f $CONF ]] && cmp -s "$new" "$CONF"; then
        rm -f "$new"
    else
        mv "$new" "$CONF"
        echo changed
    fi
}

# link_etc_conf: let commands without SLURM_CONF (job scripts, a shell) find our config, but
# never replace a site's own /etc/slurm/slurm.conf (a regular file).
link_etc_conf() {
    [[ $EUID -eq 0 ]] || return 0
    if [[ -e $ETC_CONF && ! -L $ETC_CONF ]]; then
        log "$ETC_CONF is a site config; left alone. Use: export SLURM_CONF=$CONF"
        return 0
    fi
    mkdir -p "$(dirname "$ETC_CONF")"
    ln -sfn "$CONF" "$ETC_CONF"
}

start_slurmctld() {
    if ! pid_alive "$CTLD_PID" slurmctld; then
        slurmctld
        log "slurmctld started"
    fi
    for _ in $(seq 1 100); do
        ctld_up && return 0
        sleep 0.2
    done
    log "slurmctld is not UP after 20 s; last lines of $STATE_DIR/log/slurmctld.log:"
    tail -n 20 "$STATE_DIR/log/slurmctld.log" >&2 || true
    exit 1
}

start_slurmd() {
    if ! pid_alive "$SLURMD_PID" slurmd; then
        # the machine's hostname is not "localhost", the node's name is
        slurmd -N localhost
        log "slurmd started"
    fi
    local state resumed=0
    for i in $(seq 1 150); do
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
        sleep 0.2
    done
    log "node localhost is '${state:-?}', not idle, after 30 s; last lines of slurmd.log:"
    tail -n 20 "$STATE_DIR/log/slurmd.log" >&2 || true
    exit 1
}

usage() {
    cat >&2 <<'USAGE'
usage: up.sh [--role all|munge|slurmctld|slurmd] [--foreground]
  --role        which daemons to start (default: all three, on this machine)
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
    case $role in all | munge | slurmctld | slurmd) ;; *) usage ;; esac
    [[ $role == all && $foreground == 1 ]] && usage
    install_packages
    if [[ $EUID -ne 0 ]]; then
        log "must run as root (slurmd runs jobs as their users; munged needs /run/munge)"
        exit 1
    fi
    case $role in
        munge)
            if ((foreground)); then
                start_munge_prereqs
                exec runuser -u munge -- /usr/sbin/munged --foreground
            fi
            start_munge
            return 0
            ;;
        slurmctld)
            wait_for_munge_socket
            write_conf >/dev/null
            link_etc_conf
            ((foreground)) && exec slurmctld -D
            start_slurmctld
            return 0
            ;;
        slurmd)
            wait_for_munge_socket
            write_conf >/dev/null
            link_etc_conf
            for _ in $(seq 1 150); do ctld_up && break; sleep 0.2; done
            ((foreground)) && exec slurmd -D -N localhost
            start_slurmd
            return 0
            ;;
    esac
    start_munge
    if [[ "$(write_conf)" == changed ]] && pid_alive "$CTLD_PID" slurmctld; then
        log "slurm.conf changed; restarting the daemons"
        stop_by_pid "$SLURMD_PID" slurmd
        stop_by_pid "$CTLD_PID" slurmctld
    fi
    link_etc_conf
    start_slurmctld
    start_slurmd
    echo "slurm-dev: ready (node localhost $(node_state), $(nproc) CPUs, SLURM_CONF=$CONF)"
}

main "$@"
