#!/usr/bin/env bash
# Fails when gofmt would change a file, then runs go vet.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

use_go
cd "$ROOT"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  printf 'lint: gofmt would change these files:\n%s\n' "$unformatted" >&2
  exit 1
fi
go vet ./...
