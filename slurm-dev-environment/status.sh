#!/usr/bin/env bash
# Show whether the one-node Slurm of up.sh is running; exit 0 when it accepts jobs, 1 otherwise.
# "up" means alive, holding its port and answering (see up.sh), not merely a live pid.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ok=0
# daemon_line NAME PIDFILE PORT CHECK: one status line; CHECK is the "answering" test.
daemon_line() {
    local name=$1 pidfile=$2 port=$3 check=$4
    if ! pid_alive "$pidfile" "$name"; then
        printf '%-11s down\n' "$name:"
        ok=1
    elif ! holds_port "$pidfile" "$name" "$port"; then
        printf '%-11s NOT listening on %s (pid %s; port held by: %s)\n' "$name:" "$port" \
            "$(<"$pidfile")" "$(port_holder "$port")"
        ok=1
    elif ! "$check"; then
        printf '%-11s not answering (pid %s, port %s)\n' "$name:" "$(<"$pidfile")" "$port"
        ok=1
    else
        printf '%-11s up (pid %s, port %s)\n' "$name:" "$(<"$pidfile")" "$port"
    fi
}
node_ok() { [[ $(node_state) =~ ^(idle|mix|alloc|comp)$ ]]; }

if munge_ok; then echo "munged:     up"; else echo "munged:     down"; ok=1; fi
daemon_line slurmctld "$CTLD_PID" "$CTLD_PORT" ctld_ours
daemon_line slurmd "$SLURMD_PID" "$NODE_PORT" node_ok
daemon_line slurmrestd "$REST_PID" "$REST_PORT" rest_ok
echo "config:     SLURM_CONF=$CONF"
if ((ok == 0)); then
    echo "node:       localhost $(node_state)"
    squeue -h -o "%i %j %T %M" | sed 's/^/job:        /'
fi
exit "$ok"
