#!/usr/bin/env bash
# Builds the binaries into bin/. A new service is one more package in the list.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

use_go
cd "$ROOT"
go build -o bin/ ./origin ./origin/merchantctl ./origin/loadgen ./stockfeed ./cdn-config ./edge-invalidator
