# herald's tasks. `make help` lists them.
GO      ?= go
BIN     ?= bin/herald
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/herald/herald/internal/cli.Version=$(VERSION)

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: web ## build bin/herald (with the web app; Web Chat from npm, see web)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/herald

.PHONY: demo
demo: build ## run herald with embedded defaults and show a notification arriving
	@BIN=$(BIN) scripts/demo.sh

.PHONY: web
web: ## put the official Web Chat bundle into the web app (npm ci web/app once per lock; skipped without npm)
	@scripts/web-assets.sh

.PHONY: node-deps
node-deps: ## npm ci the Node clients the tests drive (Direct Line); skipped when their lock is unchanged
	@scripts/node-deps.sh

.PHONY: test
test: node-deps web ## run every test, with the race detector (needs PostgreSQL and NATS on their local ports)
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

.PHONY: test-short
test-short: ## quick tests only (no crash tests)
	$(GO) test -short -count=1 ./...

.PHONY: chaos
chaos: ## the full chaos test: 100,000 events and a broadcast, herald SIGKILLed 10 times, every sink checked
	HERALD_CHAOS_EVENTS=100000 HERALD_CHAOS_KILLS=10 $(GO) test -count=1 -timeout 60m -run TestChaosKillsLoseNothing -v ./cmd/herald

# Fuzz targets run by fuzz-short: package and target, FUZZTIME each. A count,
# not a duration: Go 1.26's fuzz coordinator can fail a run with "context
# deadline exceeded" when a duration ends while a worker is busy (go.dev/issue/75804).
FUZZTIME ?= 10000x
FUZZ_TARGETS := \
	./internal/event:FuzzParseStructured ./internal/event:FuzzParseBatch ./internal/event:FuzzAudience \
	./internal/event:FuzzFastMatchesExact \
	./internal/prefs:FuzzApply ./internal/activity:FuzzActivityJSON ./internal/assistant:FuzzInboundActivity \
	./internal/directline:FuzzPostActivity ./internal/channel/push:FuzzPayloads ./internal/source:FuzzMap

.PHONY: fuzz-short
fuzz-short: ## run each fuzz target for FUZZTIME (10000x: 10,000 inputs; about a minute in all); seed corpora are in each package's testdata/fuzz
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; echo "fuzz $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

.PHONY: vulncheck
vulncheck: ## govulncheck: known vulnerabilities in code herald calls (needs https://vuln.go.dev or GOVULNDB=file:///mirror)
	@scripts/vulncheck.sh

.PHONY: lint
lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

.PHONY: bench
bench: build ## end-to-end benchmark (ingest -> inbox) beside the hub's own ceiling
	$(BIN) bench

.PHONY: gobench
gobench: ## Go micro-benchmarks of the store and hub drivers
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/store/... ./internal/hub/...

.PHONY: clean
clean: ## remove build output
	rm -rf bin
