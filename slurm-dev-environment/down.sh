#!/usr/bin/env bash
# Stop the one-node Slurm started by up.sh (slurmd, then slurmctld); fine when already down.
#
# munged is left running: other tools may use it, and up.sh reuses it. Pass --munge to stop
# it too. Job state in .data/slurm/ is kept; delete that directory for a clean slate.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop_by_pid "$SLURMD_PID" slurmd
stop_by_pid "$CTLD_PID" slurmctld
if [[ ${1:-} == --munge ]]; then
    stop_by_pid "$MUNGE_PID" munged
fi
echo "slurm-dev: down"
