#!/usr/bin/env bash
# Measures one stockfeed instance with cmd/feedbench: the memory an idle event stream costs
# and the delivery lag of stock changes to 10,000 streams. With no arguments it runs the standard
# pair, 30 s of load each, into one report:
#   spread: 10,000 streams over 100 lives (100 viewers each), 100 changes/s in all;
#   hot:    10,000 streams on one live, 100 changes/s on it.
# Brings up what it needs, builds bin/stockfeed and bin/feedbench, and writes the report to
# .run/bench/stockfeed.md (the stockfeed's log to .run/bench/stockfeed.log). Extra arguments make
# it one run with those flags instead, e.g. scripts/bench-feed.sh -clients 2000 -duration 10s; with
# "transport" first it compares idle streams on net/http and Fiber instead
# (.run/bench/transport.md), e.g. scripts/bench-feed.sh transport -clients 5000. Exits non-zero
# when a run failed a check or missed a target, or did not complete.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OUT_DIR=$RUN_DIR/bench

export NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
bash "$ROOT/scripts/deps.sh"
use_go
cd "$ROOT"
say "bench-feed: building bin/stockfeed and bin/feedbench"
go build -o bin/ ./cmd/stockfeed ./cmd/feedbench
mkdir -p "$OUT_DIR"

# One run, as before: transport, or a feed run with the given flags. feedbench stops the
# stockfeed it started also on Ctrl-C; its status is the script's.
if [ $# -gt 0 ]; then
  if [ "$1" = transport ]; then
    shift
    report=$OUT_DIR/transport.md
    set -- transport -out "$report" "$@"
  else
    report=$OUT_DIR/stockfeed.md
    : >"$OUT_DIR/stockfeed.log"
    set -- -feed-bin bin/stockfeed -out "$report" -feed-log "$OUT_DIR/stockfeed.log" "$@"
  fi
  status=0
  bin/feedbench "$@" || status=$?
  if [ -s "$report" ]; then say "bench-feed: report in ${report#"$ROOT"/}"; fi
  exit "$status"
fi

# The standard pair. Each run writes its own section; the report puts a summary above them.
report=$OUT_DIR/stockfeed.md
: >"$OUT_DIR/stockfeed.log"
sections=$(mktemp -d)
trap 'rm -rf "$sections"' EXIT
scenarios=(spread hot)
declare -A shape=(
  [spread]="10,000 streams over 100 lives (100 each), 100 changes/s in all (1 per live), 30 s"
  [hot]="10,000 streams on one live, 100 changes/s on it, 30 s"
)
declare -A flags=(
  [spread]="-clients 10000 -lives 100 -rate 100 -duration 30s"
  [hot]="-clients 10000 -lives 1 -rate 100 -duration 30s"
)
status=0
declare -A code
for s in "${scenarios[@]}"; do
  say "bench-feed: scenario $s: ${shape[$s]}"
  code[$s]=0
  # shellcheck disable=SC2086 # the flags are words on purpose
  bin/feedbench -name "$s" -feed-bin bin/stockfeed -out "$sections/$s.md" \
    -feed-log "$OUT_DIR/stockfeed.log" ${flags[$s]} >/dev/null || code[$s]=$?
  if [ "${code[$s]}" -ne 0 ]; then status=1; fi
done

{
  say "# stockfeed: spread and hot"
  say
  say "Two runs of \`scripts/bench-feed.sh\` on one stockfeed instance, one after the other; each"
  say "section below is one run. Exit status $status."
  say
  say "| Scenario | Shape | Targets | Result |"
  say "|---|---|---|---|"
  for s in "${scenarios[@]}"; do
    if [ -s "$sections/$s.md" ]; then
      targets=$(sed -n 's/^\*\*Targets:\*\* \(.*\)\.$/\1/p' "$sections/$s.md")
      result=$(sed -n 's/^\*\*Result: \([A-Za-z]*\)\*\*.*/\1/p' "$sections/$s.md")
    else
      targets="not measured"
      result="did not complete (feedbench exit status ${code[$s]}; see its output)"
    fi
    say "| $s | ${shape[$s]} | $targets | $result |"
  done
  say
  for s in "${scenarios[@]}"; do
    if [ -s "$sections/$s.md" ]; then cat "$sections/$s.md"; fi
  done
} >"$report"
cat "$report"
say "bench-feed: report in ${report#"$ROOT"/}"
exit "$status"
