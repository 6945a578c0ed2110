#!/usr/bin/env bash
# The "run the whole system locally" command (make run): brings up Redis, MariaDB and NATS,
# builds the binaries, migrates the database and runs the services in the foreground with
# readable logs (through jq when it is installed): two origins, the stockfeed, the edge
# invalidator and, in front of them, the local edge (Varnish) on EDGE_ADDR (127.0.0.1:8000),
# which is the address to use. Every listener is on loopback. Ctrl-C or SIGTERM stops the
# services gracefully, then the daemons this run started; services that were already up stay up.
#
# BUYER_JWT_SECRET defaults to a development secret kept in .run/dev-secret.
# RUN_STOP_SECONDS (default 30) is how long a service may take to shut down before it is killed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STOP_SECONDS=${RUN_STOP_SECONDS:-30}
STARTED_FILE=$RUN_DIR/started.$$ # daemons deps.sh started for this run
procs=()                         # "NAME PID" of the services, in start order
formatters=()                    # pids of the log formatters

# One line per log record: [name] time level msg key=value...; lines that are not JSON pass as
# they are.
# shellcheck disable=SC2016 # a jq program, not shell
JQ_FORMAT='
. as $line
| (try fromjson catch null) as $j
| if ($j | type) != "object" then "[\($name)] \($line)"
  else
    (["[\($name)]",
      (($j.time // "") | tostring | (capture("T(?<t>[0-9:]{8}(\\.[0-9]{1,3})?)").t // .)),
      ($j.level // "" | tostring),
      ($j.msg // "" | tostring)] | map(select(. != "")))
    + ($j | del(.time, .level, .msg) | to_entries
       | map("\(.key)=\(.value | if type == "string" and (test("[\\s\"=]") | not) then . else tojson end)"))
    | join(" ")
  end'

# fmt_logs NAME: formats the log lines on stdin.
fmt_logs() {
  # Ctrl-C is meant for this script; the formatter has to live on to print the shutdown logs.
  trap '' INT
  if command -v jq >/dev/null; then
    exec jq -R -r --unbuffered --arg name "$1" "$JQ_FORMAT"
  fi
  exec cat
}

# start NAME COMMAND [ARGS...]: runs a service in the background with its logs formatted. It gets
# its own session so that Ctrl-C reaches only this script, which then stops the services in order
# with a single SIGTERM each.
start() {
  local name=$1 pid fd
  shift
  exec {fd}> >(fmt_logs "$name")
  formatters+=("$!")
  setsid "$@" </dev/null >&"$fd" 2>&1 &
  pid=$!
  exec {fd}>&-
  write_pidfile "$PROC_DIR/$name.pid" "$pid" "$1"
  procs+=("$name $pid")
}

# shutdown runs on every exit: the services in reverse start order, then the daemons this run
# started, then the exit status is the one the script was leaving with.
# shellcheck disable=SC2317 # called by the EXIT trap
shutdown() {
  local status=$? i name pid names
  trap '' INT TERM
  for ((i = ${#procs[@]} - 1; i >= 0; i--)); do
    read -r name pid <<<"${procs[i]}"
    stop_pidfile "$PROC_DIR/$name.pid" "$name" "$STOP_SECONDS" || status=1
    wait "$pid" 2>/dev/null || true
  done
  for pid in "${formatters[@]}"; do wait_dead "$pid" 2 || true; done
  if [ -s "$STARTED_FILE" ]; then
    mapfile -t names <"$STARTED_FILE"
    for ((i = ${#names[@]} - 1; i >= 0; i--)); do
      stop_pidfile "$PID_DIR/${names[i]}.pid" "${names[i]}" "$STOP_SECONDS" || status=1
    done
  fi
  rm -f "$STARTED_FILE"
  exit "$status"
}

for file in "$PROC_DIR"/*.pid; do
  if pid=$(pidfile_pid "$file"); then
    die "run: $(basename "$file" .pid) is already running (pid $pid); stop it first with make stop"
  fi
done
mkdir -p "$RUN_DIR" "$PROC_DIR"
: >"$STARTED_FILE"
trap shutdown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

DEPS_STARTED=$STARTED_FILE bash "$ROOT/scripts/deps.sh"
bash "$ROOT/scripts/build.sh"
cd "$ROOT"

if [ -z "${BUYER_JWT_SECRET:-}" ]; then
  # The origins refuse a secret under 32 bytes: one written before that rule is replaced.
  dev_secret=$(cat "$RUN_DIR/dev-secret" 2>/dev/null || true)
  if [ "${#dev_secret}" -lt 32 ]; then
    (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$RUN_DIR/dev-secret")
  fi
  BUYER_JWT_SECRET=$(<"$RUN_DIR/dev-secret")
  export BUYER_JWT_SECRET
fi

bin/origin migrate 2>&1 | fmt_logs migrate || die "run: origin migrate failed"

# The services, in start order. A new service is one more line here (and a package in build.sh).
# Two origins, so that the edge's load balancing and health checks are what a newcomer sees.
# Each has its ops listener (/healthz, /readyz, /metrics) on a port of its own, off the edge.
start origin-1 bin/origin serve --addr 127.0.0.1:8080 --ops-addr 127.0.0.1:9101
start origin-2 bin/origin serve --addr 127.0.0.1:8082 --ops-addr 127.0.0.1:9104
start stockfeed bin/stockfeed --addr 127.0.0.1:8081 --ops-addr 127.0.0.1:9103
start edge-invalidator bin/edge-invalidator --addr 127.0.0.1:9102
start edge bin/cdn-config edge --purge-addr 127.0.0.1:8001 \
  --origins 127.0.0.1:8080,127.0.0.1:8082 --feeds 127.0.0.1:8081 --work-dir "$RUN_DIR/edge"

say "run: $(for p in "${procs[@]}"; do printf '%s ' "${p% *}"; done)running; Ctrl-C stops them"
status=0
wait -n -p exited "${procs[@]##* }" || status=$?
for p in "${procs[@]}"; do
  if [ "${p##* }" = "${exited:-}" ]; then say "run: ${p% *} exited with status $status; stopping the rest"; fi
done
exit "$status"
