#!/usr/bin/env bash
# Measures one stockfeed instance with stockfeed/feedbench: the memory an idle event stream costs
# and the delivery lag of stock changes to 10,000 streams on one live (100 changes/s for 30 s).
# Brings up what it needs, builds bin/stockfeed and bin/feedbench, and writes the report to
# .run/bench/stockfeed.md (the stockfeed's log to .run/bench/stockfeed.log). Extra arguments go to
# feedbench, e.g. scripts/bench-feed.sh -clients 2000 -duration 10s; with "transport" first it
# compares idle streams on net/http and Fiber instead (.run/bench/transport.md), e.g.
# scripts/bench-feed.sh transport -clients 5000. Exits non-zero when a check or a target failed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OUT_DIR=$RUN_DIR/bench

export NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
bash "$ROOT/scripts/deps.sh"
use_go
cd "$ROOT"
say "bench-feed: building bin/stockfeed and bin/feedbench"
go build -o bin/ ./stockfeed ./stockfeed/feedbench
mkdir -p "$OUT_DIR"

if [ "${1:-}" = transport ]; then
  shift
  report=$OUT_DIR/transport.md
  set -- transport -out "$report" "$@"
else
  report=$OUT_DIR/stockfeed.md
  : >"$OUT_DIR/stockfeed.log"
  set -- -feed-bin bin/stockfeed -out "$report" -feed-log "$OUT_DIR/stockfeed.log" "$@"
fi
# feedbench stops the stockfeed it started also on Ctrl-C; its status is the script's.
status=0
bin/feedbench "$@" || status=$?
if [ -s "$report" ]; then say "bench-feed: report in ${report#"$ROOT"/}"; fi
exit "$status"
