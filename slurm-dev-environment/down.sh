#!/usr/bin/env bash
# Stop the one-node Slurm started by up.sh (slurmrestd, slurmd, then slurmctld); fine when down.
#
# Only the pids in our own pid files (.data/slurm/run/) are signalled, after checking that each
# is alive and has the daemon's name: another cluster's daemons on this machine are left alone.
# munged is left running: it is machine-wide and up.sh reuses it. --munge stops it too, but
# only if up.sh started it. Job state in .data/slurm/ is kept; delete it for a clean slate.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop_by_pid "$REST_PID" slurmrestd
stop_by_pid "$SLURMD_PID" slurmd
stop_by_pid "$CTLD_PID" slurmctld
if [[ ${1:-} == --munge ]]; then
    stop_by_pid "$MUNGE_PID" munged
fi
# an older up.sh linked /etc/slurm/slurm.conf to our config; that link is ours to remove
if [[ -L $ETC_CONF && $(readlink "$ETC_CONF") == "$STATE_DIR"/* ]]; then
    rm -f "$ETC_CONF"
fi
echo "slurm-dev: down"
