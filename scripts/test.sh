#!/usr/bin/env bash
# The "run the tests" command (make test, .ci/run): brings up the services, then go vet and the
# tests with the race detector. Extra arguments go to go test, e.g. scripts/test.sh -run TestBuy.
# The daemons it starts stay up for the next run; make stop stops them.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The tests' connection settings; an empty database name lets each test create its own database.
export REDIS_ADDR=${REDIS_ADDR:-127.0.0.1:6379}
export MYSQL_DSN=${MYSQL_DSN:-root@tcp(127.0.0.1:3306)/}
export NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}

bash "$ROOT/scripts/deps.sh"
use_go
cd "$ROOT"
say "test: go vet ./..."
go vet ./...
say "test: go test -race ./..."
go test -race -count=1 -timeout 20m ./... "$@"
