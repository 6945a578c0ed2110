#!/usr/bin/env bash
# make bench-go: brings up Redis, MariaDB and NATS and runs the Go benchmarks (closed loop).
# Extra arguments go to go test, e.g. scripts/bench-go.sh -benchtime=10s -cpuprofile cpu.out.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bash "$ROOT/scripts/deps.sh"
use_go
cd "$ROOT"
go test -run '^$' -bench . -benchmem -benchtime=3s ./origin/... ./cdn-config/... "$@"
