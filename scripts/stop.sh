#!/usr/bin/env bash
# Stops everything started from .run/: first the processes scripts/run.sh and scripts/bench.sh
# started (a run.sh or bench.sh still in the foreground then shuts down too), then the daemons
# scripts/deps.sh started. Services that
# were already running on their own are not touched. Fails if anything would not stop, so that
# `make clean` never deletes the data of a daemon that is still running.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

failed=0
for dir in "$PROC_DIR" "$RUN_DIR/bench-procs" "$PID_DIR"; do
  for file in "$dir"/*.pid; do
    [ -e "$file" ] || continue
    name=$(basename "$file" .pid)
    stop_pidfile "$file" "$name" || failed=1
  done
done
exit "$failed"
