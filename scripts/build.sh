#!/usr/bin/env bash
# Builds the binaries into bin/: one per folder of cmd/.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

use_go
cd "$ROOT"
go build -o bin/ ./cmd/...
