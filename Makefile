# Tally: the two commands that matter are `make run` and `make test`; the work is in scripts/.
PORT ?= 8080

.PHONY: help run test verify psql admin-token check-deploy bench bench-token-cost build format lint openapi clean clean-data

## help: this list
help:
	@awk '/^## / { sub(/^## /, ""); if (match($$0, /^[a-z-]+:/)) printf "\n  make %-16s%s", substr($$0, 1, RLENGTH - 1), substr($$0, RLENGTH + 1); else printf "\n  %-22s%s", "", $$0 } END { print "" }' $(MAKEFILE_LIST)

## run: build, start PostgreSQL (var/pg), the pool and nginx on PORT (8080); Ctrl-C stops it all;
## SPOOL=1 turns store and forward on (spool in var/spool); HA=1 runs the database as a three-node Patroni cluster
## in network namespaces (docs/operations.md#high-availability; scripts/ha.sh status, switchover, kill, ...)
# exec: make's SIGTERM then reaches run.sh itself (not an intermediate sh), which stops everything cleanly.
run:
	PORT=$(PORT) SPOOL=$(SPOOL) HA=$(HA) exec bash scripts/run.sh

## test: lint, unit, integration, end-to-end and fault tests on a stack of their own;
## TALLY_TEST_SUITES=lint,e2e,faults (say) runs only those (scripts/test.sh lists them)
test:
	exec bash scripts/test.sh

## verify: tally verify against make run's database (every balance recomputed from the journal)
verify:
	exec bash scripts/ops.sh verify

## psql: a psql session on make run's database, as its owner
psql:
	exec bash scripts/ops.sh psql

## admin-token: a new service-role token for make run's stack
admin-token:
	exec bash scripts/ops.sh admin-token

## check-deploy: the Docker deployment checked without Docker (also part of make test)
check-deploy:
	exec bash scripts/check-deploy.sh

## bench: every performance target beside the ceiling of this machine, about 15 minutes (bench/bench.sh);
## QUICK=1 for a four-minute subset; SCENARIOS="hot batch" for some scenarios (batch: the batch ones);
## URL=http://host:port TOKEN=... to load a running Tally instead
bench:
	QUICK=$(QUICK) URL=$(URL) TOKEN=$(TOKEN) BENCH_SCENARIOS="$(or $(SCENARIOS),$(BENCH_SCENARIOS))" exec bash bench/bench.sh

## bench-token-cost: transfers/s in PostgreSQL with and without the bearer-token check (bench/token-cost.sh)
bench-token-cost:
	exec bash bench/token-cost.sh

## format: rewrite Sources/, Tests/ and tests/fuzz in the project's style (.swift-format: 4 spaces, 120 columns)
format:
	swift format --in-place --recursive Sources Tests tests/fuzz

## lint: swift-format over the Swift sources and shellcheck over the shell scripts (scripts/lint.sh; also
## the first suite of make test)
lint:
	exec bash scripts/lint.sh

## openapi: www/openapi.json from www/openapi.yaml (the /docs page reads the JSON; a test checks it is current)
openapi:
	python3 scripts/openapi-json.py

## build: the release binary, .build/release/tally
build:
	swift build -c release

## clean: build products, the venv, logs and run state; keeps the database in var/pg
clean:
	rm -rf .build .venv var/log var/run var/nginx var/test-logs

## clean-data: also deletes make run's database (var/pg); stop make run first
clean-data: clean
	@bash -c 'source scripts/lib.sh && ! pg_is_running var/pg' || { echo "PostgreSQL still runs in var/pg: stop make run first"; exit 1; }
	rm -rf var
