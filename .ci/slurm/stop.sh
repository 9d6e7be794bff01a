#!/usr/bin/env bash
# Stop the test cluster started by .ci/slurm/start.sh: cancel its jobs, then end exactly the
# daemons whose PIDs start.sh recorded (TERM, then KILL after 15 s). Safe to run twice.
set -uo pipefail

DIR="${SLURM_CI_DIR:-/tmp/collusion-slurm}"
[ -s "$DIR/pids" ] || { echo "stop.sh: no cluster recorded in $DIR/pids; nothing to stop."; exit 0; }

alive() {  # PID still running and still the daemon we started (not a recycled PID)
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

if [ -x "$DIR/bin/scancel" ]; then
    timeout -k 2 10 "$DIR/bin/scancel" --full --quiet --user "$(id -un)" 2>/dev/null || true
    # give slurmd a moment to end the job steps before it goes away itself
    for _ in $(seq 20); do
        [ -z "$(timeout -k 2 5 "$DIR/bin/squeue" -h -t RUNNING,COMPLETING -o %i 2>/dev/null)" ] && break
        sleep 0.5
    done
fi

# stop in reverse start order: slurmd, slurmctld, munged
tac "$DIR/pids" | while read -r name pid; do
    alive "$pid" "$name" || continue
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 30); do alive "$pid" "$name" || break; sleep 0.5; done
    if alive "$pid" "$name"; then
        echo "stop.sh: $name (PID $pid) ignored SIGTERM; sending SIGKILL." >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
done
rm -f "$DIR/pids"
echo "stop.sh: SLURM test cluster stopped."
