#!/usr/bin/env bash
# make bench: the load test that proves the targets. Brings up Redis, MariaDB and NATS, builds the
# binaries, and starts a system of its own on its own ports and data (database lc_bench, Redis
# prefix lcbench:, both wiped first): two origins (:18080, :18082), the stockfeed (:18081), the
# edge invalidator (:19102) and the edge (:18000, purge :18001), plus the two baselines: the naive
# MySQL-only origin (:18090) and the static JSON server (:18091). Then bin/loadgen plays the
# standard scenario against it, checks the invariants, runs the baselines, and writes a report
# folder under .run/bench/ (summary.md, results.json, histograms/, latency.svg, the services'
# logs); .run/bench/latest points to the newest. Every service is stopped at the end.
#
# The services' ops listeners (origins :19101 and :19104, stockfeed :19103, edge invalidator
# :19102) are loadgen's default --ops-urls: with --profile (make bench-profile) loadgen takes a CPU
# profile of each over every measured window of the system, into the report's profiles/.
#
# Extra arguments go to loadgen run, e.g. scripts/bench.sh --step for the capacity search, or
# scripts/bench.sh --duration 10s --sse-clients 500 for a short run. Exit status: loadgen's (0 when
# every check passed, 1 when one failed, 2 on wrong usage).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STOP_SECONDS=30
BENCH_ROOT=$RUN_DIR/bench
BENCH_PROCS=$RUN_DIR/bench-procs
STARTED_FILE=$RUN_DIR/started.bench.$$
procs=()

# A clean environment: a service setting left in the shell (RATE_LIMIT_IP, MICROCACHE_TTL,
# PURGE_WINDOW, a LOADGEN_* ...) would silently change what is measured. Settings for a run go in
# as loadgen flags (the script's arguments).
for v in $(compgen -e); do
  case $v in
  PATH | HOME | USER | LOGNAME | SHELL | TERM | LANG | LC_* | TMPDIR | TZ | GO* | CI) ;;
  *) unset "$v" ;;
  esac
done

# The bench's own settings: its own database, keys and ports (NATS is shared with development:
# its events go to the same STOCK stream, on subjects of the bench's own lives).
export MYSQL_DSN='root@tcp(127.0.0.1:3306)/lc_bench?parseTime=true'
export REDIS_ADDR=127.0.0.1:6379
export REDIS_PREFIX=lcbench:
export NATS_URL=nats://127.0.0.1:4222
export LOG_LEVEL=warn
BUYER_JWT_SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
export BUYER_JWT_SECRET

ports=(18000 18001 18080 18081 18082 18090 18091 19101 19102 19103 19104)

# shellcheck disable=SC2317 # called by the EXIT trap
shutdown() {
  local status=$? i name pid names
  trap '' INT TERM
  for ((i = ${#procs[@]} - 1; i >= 0; i--)); do
    read -r name pid <<<"${procs[i]}"
    stop_pidfile "$BENCH_PROCS/$name.pid" "$name" "$STOP_SECONDS" >/dev/null || status=1
    wait "$pid" 2>/dev/null || true
  done
  if [ -s "$STARTED_FILE" ]; then
    mapfile -t names <"$STARTED_FILE"
    for ((i = ${#names[@]} - 1; i >= 0; i--)); do
      stop_pidfile "$PID_DIR/${names[i]}.pid" "${names[i]}" "$STOP_SECONDS" || status=1
    done
  fi
  rm -f "$STARTED_FILE"
  exit "$status"
}

# start NAME COMMAND [ARGS...]: runs a service in the background, its log in the report folder.
start() {
  local name=$1 pid
  shift
  setsid "$@" </dev/null >"$OUT/logs/$name.log" 2>&1 &
  pid=$!
  write_pidfile "$BENCH_PROCS/$name.pid" "$pid" "$1"
  procs+=("$name $pid")
}

for file in "$BENCH_PROCS"/*.pid; do
  if pid=$(pidfile_pid "$file"); then
    die "bench: $(basename "$file" .pid) of an earlier bench is still running (pid $pid); stop it first"
  fi
done
for port in "${ports[@]}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "bench: port $port is taken; the bench needs ${ports[*]} on 127.0.0.1"
  fi
done

mkdir -p "$RUN_DIR" "$BENCH_PROCS" "$BENCH_ROOT"
OUT=$BENCH_ROOT/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT/logs"
: >"$STARTED_FILE"
trap shutdown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

DEPS_STARTED=$STARTED_FILE bash "$ROOT/scripts/deps.sh"
bash "$ROOT/scripts/build.sh"
cd "$ROOT"

say "bench: wiping lc_bench and the lcbench: keys, then migrating"
bin/loadgen reset
bin/origin migrate >"$OUT/logs/migrate.log" 2>&1 || die "bench: origin migrate failed; see $OUT/logs/migrate.log"
MERCHANT_API_KEY=$(bin/origin merchant create --name "Load test" | sed -n 's/^api_key: //p')
[ -n "$MERCHANT_API_KEY" ] || die "bench: could not create the load test's merchant"
export MERCHANT_API_KEY

say "bench: starting the system and the baselines"
start origin-1 bin/origin serve --addr 127.0.0.1:18080 --ops-addr 127.0.0.1:19101
start origin-2 bin/origin serve --addr 127.0.0.1:18082 --ops-addr 127.0.0.1:19104
start stockfeed bin/stockfeed --addr 127.0.0.1:18081 --ops-addr 127.0.0.1:19103
start edge-invalidator bin/edge-invalidator --addr 127.0.0.1:19102 \
  --varnish-urls http://127.0.0.1:18001 --consumer edge-invalidator-bench
start edge bin/cdn-config edge --addr 127.0.0.1:18000 --purge-addr 127.0.0.1:18001 \
  --origins 127.0.0.1:18080,127.0.0.1:18082 --feeds 127.0.0.1:18081 --work-dir "$RUN_DIR/bench-edge"
# The baselines run from links named after them, so that the report's CPU table (read from
# /proc, by process name) tells them from the load generator.
mkdir -p "$RUN_DIR/bench-bin"
ln -sfn "$ROOT/bin/loadgen" "$RUN_DIR/bench-bin/naive-origin"
ln -sfn "$ROOT/bin/loadgen" "$RUN_DIR/bench-bin/static-json"
start naive-origin "$RUN_DIR/bench-bin/naive-origin" naive-origin --addr 127.0.0.1:18090
start static-json "$RUN_DIR/bench-bin/static-json" static-json --addr 127.0.0.1:18091

ln -sfn "$(basename "$OUT")" "$BENCH_ROOT/latest"
say "bench: running the load (report in ${OUT#"$ROOT"/})"
status=0
bin/loadgen run --out "$OUT" "$@" || status=$?
exit "$status"
