# shopstream — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/shopstream
export SHOPSTREAM_TEST_KAFKA ?= 127.0.0.1:9092
export SHOPSTREAM_TEST_CLICKHOUSE ?= clickhouse://127.0.0.1:9000/default
FUZZTIME ?= 15s
# golangci-lint, pinned; `make lint` installs it from the Go module proxy into
# $(GOPATH)/bin (~/go/bin) unless that version is already there.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT_BIN := $(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/bin
GOLANGCI_LINT := $(GOLANGCI_LINT_BIN)/golangci-lint
# Every package runs under the race detector. -p 1: tests that stop the broker
# or ClickHouse must not overlap with others.
TEST_FLAGS ?= -race -count=1 -p 1 -timeout 25m

.PHONY: build run test test-unit test-stress test-integration fuzz vet lint tidy-check golangci-lint bench bench-cost bench-console infra-up infra-down infra-status clean

build: ## bin/shopstream
	$(GO) build -o $(BIN) ./cmd/shopstream

run: build ## everything in one process on an embedded broker
	./$(BIN) dev

vet:
	$(GO) vet ./...
	$(GO) vet -tags pprof ./connectors/ingress/
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

tidy-check: ## go.mod and go.sum are what `go mod tidy` makes them
	$(GO) mod tidy -diff

golangci-lint:
	@$(GOLANGCI_LINT) version 2>/dev/null | grep -q 'version $(GOLANGCI_LINT_VERSION:v%=%) ' || \
		{ echo "installing golangci-lint $(GOLANGCI_LINT_VERSION)"; GOBIN=$(GOLANGCI_LINT_BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); }

lint: vet tidy-check golangci-lint ## gofmt, vet, go mod tidy, golangci-lint (.golangci.yml)
	$(GOLANGCI_LINT) run --allow-parallel-runners ./...

test: infra-up lint ## lint (gofmt, vet, go mod tidy, golangci-lint), then unit + integration tests (race detector on) against the real Kafka and ClickHouse
	$(GO) test $(TEST_FLAGS) ./...
	$(GO) test -count=1 -tags pprof -run '^TestAdmin' ./connectors/ingress/
	$(MAKE) fuzz

# make test with one CPU hog beside it (stress-ng, Debian package stress-ng):
# the suite must not depend on having the machine to itself. The hog is
# stopped however the tests end.
test-stress: ## make test with `stress-ng --cpu 1` running beside it
	@command -v stress-ng >/dev/null || { echo "stress-ng is not installed (apt-get install stress-ng)"; exit 1; }
	@stress-ng --cpu 1 --timeout 0 --quiet & hog=$$!; \
		trap 'kill $$hog 2>/dev/null; wait $$hog 2>/dev/null' EXIT INT TERM; \
		$(MAKE) test

test-unit: ## tests that need no infrastructure
	SHOPSTREAM_TEST_KAFKA= SHOPSTREAM_TEST_CLICKHOUSE= $(GO) test -count=1 ./...

fuzz: ## a short run of the request-path fuzzer
	$(GO) test ./pipeline -run '^$$' -fuzz '^FuzzRequest$$' -fuzztime $(FUZZTIME)

bench: build infra-up ## benchmarks (see README for the figures); the cost-per-event table first
	./deploy/bench/cost.sh $(COST_FLAGS)
	$(GO) test -run '^$$' -bench 'CatalogCSV100k|CatalogSync100k|CatalogStateSync100k|InsertOutcomes|SinkThroughput' -benchtime 3x -benchmem ./pipeline/ ./connectors/...
	$(GO) test -run '^$$' -bench '^BenchmarkWebhook$$' -benchmem ./connectors/ingress/
	./deploy/bench/ingress.sh
	./deploy/bench/pipeline.sh

# make bench-cost: only the cost-per-event table (README "Cost per event"),
# e.g. make bench-cost COST_FLAGS='-cost-only ingress,ceiling,raw'.
bench-cost: build infra-up
	./deploy/bench/cost.sh $(COST_FLAGS)

# make bench-console: the console's pages on a week at 10 events/s (README
# "Operations console"), before and after migrations 0003 and 0005. Seeds
# CONSOLE_BENCH_DB once (about 10 minutes) and reuses it; `DROP DATABASE
# consoleweek` to start over (one seeded before migration 0005 gets its backfill
# first, about a minute). The DLQ page needs a broker of your own: it
# tops evershop.dlq up to CONSOLE_BENCH_DLQ dead letters.
CONSOLE_BENCH_EVENTS ?= 6048000
CONSOLE_BENCH_DB ?= consoleweek
CONSOLE_BENCH_DLQ ?= 100000
bench-console: infra-up
	SHOPSTREAM_CONSOLE_BENCH_EVENTS=$(CONSOLE_BENCH_EVENTS) SHOPSTREAM_CONSOLE_BENCH_DB=$(CONSOLE_BENCH_DB) \
		$(GO) test -run '^$$' -bench '^BenchmarkConsoleWeek$$' -benchtime 50x -timeout 60m ./connectors/clickhouse/
	SHOPSTREAM_CONSOLE_BENCH_DLQ=$(CONSOLE_BENCH_DLQ) $(GO) test -run '^$$' -bench '^BenchmarkDeadLettersPage$$' -benchtime 20x ./connectors/console/

infra-up: ## start Kafka (KRaft) and ClickHouse on loopback, installing them if needed
	./deploy/local/infra.sh up

infra-down:
	./deploy/local/infra.sh down

infra-status:
	./deploy/local/infra.sh status

clean:
	rm -rf bin var

# make e2e: a real EverShop with the webhook bridge extension, end to end.
include deploy/e2e/e2e.mk

# make chaos: the real system (1 serve, 3 process, 1 sink, Kafka, ClickHouse) under kill -9,
# broker/inbox/ClickHouse outages and Retry-After; one table row per scenario (deploy/chaos/README.md).
.PHONY: chaos chaos-short
chaos:
	$(GO) run ./deploy/chaos $(CHAOS_FLAGS)

chaos-short: ## the CI version: fewer events, shorter outages
	$(GO) run ./deploy/chaos -short $(CHAOS_FLAGS)

# make soak: bounded memory (issue 8) — 10 min of Coze down under 50 product events/s, then 10 min
# of the inbox down under 200 order events/s; peak RSS per process against 256 MB, held events,
# delivered/lost/DLQ/drain after recovery. Ports 19550-19581, so it can run beside `make chaos`.
.PHONY: soak
soak:
	$(GO) run ./deploy/chaos -soak coze-down,inbox-down $(SOAK_FLAGS)
