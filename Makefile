# The front door for developers and CI. The work is done by the scripts in scripts/.

.DEFAULT_GOAL := help
.PHONY: help run test bench bench-step bench-profile bench-go bench-feed lint build deps stop clean

help: ## List the targets
	@awk -F ':.*## ' '/^[a-z][a-z-]*:.*## / { printf "  make %-13s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

run: ## Run the whole system locally; Ctrl-C stops it
	@bash scripts/run.sh

test: ## Run go vet and the tests with the race detector (flags for go test: ARGS=...)
	@bash scripts/test.sh $(ARGS)

bench: ## Load-test the whole system on its own ports: the standard scenario, invariants, baselines; report in .run/bench/latest (flags for loadgen run: ARGS=...)
	@bash scripts/bench.sh $(ARGS)

bench-step: ## Like bench, but search for capacity: raise the purchase rate until p99 breaks
	@bash scripts/bench.sh --step $(ARGS)

bench-profile: ## Like bench, with a CPU profile of every service over the measured window, in the report's profiles/
	@bash scripts/bench.sh --profile $(ARGS)

bench-go: ## Run the Go benchmarks, closed loop (flags for go test: ARGS=...)
	@bash scripts/bench-go.sh $(ARGS)

bench-feed: ## Measure one stockfeed: idle memory per stream, lag to 10,000 streams spread over 100 lives and on one live (ARGS=... for one custom run)
	@bash scripts/bench-feed.sh $(ARGS)

lint: ## Check formatting with gofmt and run go vet
	@bash scripts/lint.sh

build: ## Build the binaries into bin/
	@bash scripts/build.sh

deps: ## Start Redis, MariaDB and NATS unless they already run (installs what is missing)
	@bash scripts/deps.sh

stop: ## Stop what make run and make deps started from .run/
	@bash scripts/stop.sh

clean: stop ## Stop what was started from .run/, then delete bin/ and .run/
	rm -rf bin .run
