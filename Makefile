# The two commands a newcomer runs (see README.md):
#   go run ./cmd/mongotide demo   the main job on the embedded default
#   make test                     installs what the tests need, then runs them all
GO      ?= go
FUZZTIME ?= 10s

.PHONY: test deps lint unit fuzz bench demo

# deps installs the only system package the tests need: redis-server, from
# Debian, for the Redis resume store and the cache-invalidation example.
deps:
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "make: installing redis-server (Debian package)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }
	@command -v redis-server >/dev/null 2>&1 || { echo "make: redis-server is still missing" >&2; exit 1; }

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:" >&2; echo "$$out" >&2; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 15m ./...

# Short fuzz runs of the wire decoder and the query matcher over their
# committed seed corpora.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./embedded/internal/wire
	$(GO) test -run '^$$' -fuzz '^FuzzMatch$$' -fuzztime $(FUZZTIME) ./internal/mql

test: deps lint unit fuzz

bench:
	$(GO) run ./cmd/mongotide bench

demo:
	$(GO) run ./cmd/mongotide demo
