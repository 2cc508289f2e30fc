# The two commands a newcomer runs (see README.md):
#   go run ./cmd/mongotide demo   the main job on the embedded default
#   make test                     installs what the tests need, then runs them all
GO      ?= go
# A count, not a duration: go1.26's fuzz coordinator can fail a duration run
# with a bare "context deadline exceeded" when a loaded machine keeps a worker
# busy as -fuzztime ends (golang/go#75804, fixed in go1.27). 300,000 inputs
# take about 9 s per target on the 2-core machine when it is idle.
FUZZTIME ?= 300000x
SHELL   := /bin/bash
.SHELLFLAGS := -eo pipefail -c

.PHONY: test deps lint unit spec conformance fuzz bench demo

# deps installs the system packages the tests need, from Debian, when they
# are missing (the command and the package have the same name): redis-server
# (the Redis resume store and the cache-invalidation example), chromium and npm
# (the graphql-subscriptions browser test runs the graphql-ws npm client,
# installed from the npm registry at test time, in headless Chromium).
DEPS := redis-server chromium npm

deps:
	@missing=; for d in $(DEPS); do command -v $$d >/dev/null 2>&1 || missing="$$missing $$d"; done; \
	if [ -n "$$missing" ]; then \
		echo "make: installing$$missing (Debian packages)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@for d in $(DEPS); do command -v $$d >/dev/null 2>&1 || { echo "make: $$d is still missing" >&2; exit 1; }; done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:" >&2; echo "$$out" >&2; exit 1; fi
	$(GO) vet ./...

# Every package's tests with the race detector, except the unified spec run,
# which `spec` runs on its own so that its summary line is printed.
unit:
	$(GO) test -race -count=1 -timeout 15m -skip '^TestUnifiedSpec$$' ./...

# MongoDB's unified spec tests (../shared/spec or MONGOTIDE_SPEC_DIR) through
# the real driver; prints the server, each skip and failure with its reason,
# and the line "unified spec: P passed, F failed, S skipped".
spec:
	$(GO) test -race -count=1 -timeout 10m -run '^TestUnifiedSpec$$' -v ./embedded/ \
		| grep -E '^(server |SKIP |FAIL|unified spec:|ok|panic)' || { echo "make: spec run failed" >&2; exit 1; }

# The official Go driver's own suites (its unified spec runner and classic
# integration tests, from the module cache) against a fresh embedded server;
# prints "driver unified: ..." and "driver classic: ..." and fails when
# either pass rate, passed/(passed+failed), is below CONFORMANCE_MIN percent.
# Spec JSON: ../shared/driver-spec/source or MONGOTIDE_DRIVER_SPEC_DIR.
# Failures and their first error lines: $(CONFORMANCE_OUT)/conformance.log.
CONFORMANCE_MIN ?= 97
CONFORMANCE_OUT ?= $(or $(TMPDIR),/tmp)/mongotide-conformance
conformance:
	$(GO) run ./internal/conformance -min $(CONFORMANCE_MIN) -out $(CONFORMANCE_OUT)

# Short fuzz runs of the wire decoder and the query matcher over their
# committed seed corpora, and of the gateway's query filters and cursors
# (each of those inputs is a real HTTP request against an embedded server,
# about 1.4 ms: they run for a fixed time instead). Go minimizes every new
# interesting input for up to 60 s by default, counting no execs meanwhile:
# at the gateway's cost per input that took the rest of a 30 s run after
# its first find (18,520 execs and 1 new input in 25 s; capped at 500
# minimization execs, 84,650 execs and 49 new inputs).
GATEWAY_FUZZTIME ?= 30s
GATEWAY_MINIMIZE ?= 500x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./embedded/internal/wire
	$(GO) test -run '^$$' -fuzz '^FuzzMatch$$' -fuzztime $(FUZZTIME) ./internal/mql
	$(GO) test -run '^$$' -fuzz '^FuzzQueryFilter$$' -fuzztime $(GATEWAY_FUZZTIME) -fuzzminimizetime $(GATEWAY_MINIMIZE) ./gateway
	$(GO) test -run '^$$' -fuzz '^FuzzCursor$$' -fuzztime $(GATEWAY_FUZZTIME) -fuzzminimizetime $(GATEWAY_MINIMIZE) ./gateway

test: deps lint unit spec conformance fuzz

bench:
	$(GO) run ./cmd/mongotide bench

demo:
	$(GO) run ./cmd/mongotide demo
