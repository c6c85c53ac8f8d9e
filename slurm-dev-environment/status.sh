#!/usr/bin/env bash
# Show whether the one-node Slurm of up.sh is running; exit 0 when it accepts jobs, 1 otherwise.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ok=0
if munge_ok; then echo "munged:    up"; else echo "munged:    down"; ok=1; fi
if pid_alive "$CTLD_PID" slurmctld; then
    echo "slurmctld: up (pid $(<"$CTLD_PID"))"
else
    echo "slurmctld: down"
    ok=1
fi
if pid_alive "$SLURMD_PID" slurmd; then
    echo "slurmd:    up (pid $(<"$SLURMD_PID"))"
else
    echo "slurmd:    down"
    ok=1
fi
if ((ok == 0)) && ctld_up; then
    echo "node:      localhost $(node_state)"
    echo "config:    $CONF"
    squeue -h -o "%i %j %T %M" | sed 's/^/job:       /'
else
    ok=1
fi
exit "$ok"
