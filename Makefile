# shopstream — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/shopstream
export SHOPSTREAM_TEST_KAFKA ?= 127.0.0.1:9092
export SHOPSTREAM_TEST_CLICKHOUSE ?= clickhouse://127.0.0.1:9000/default
FUZZTIME ?= 15s

.PHONY: build run test test-unit test-integration fuzz vet bench infra-up infra-down infra-status clean

build: ## bin/shopstream
	$(GO) build -o $(BIN) ./cmd/shopstream

run: build ## everything in one process on an embedded broker
	./$(BIN) dev

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

test: infra-up vet ## unit + integration tests against the real Kafka and ClickHouse
	$(GO) test -count=1 -p 1 -timeout 25m ./...
	$(MAKE) fuzz

test-unit: ## tests that need no infrastructure
	SHOPSTREAM_TEST_KAFKA= SHOPSTREAM_TEST_CLICKHOUSE= $(GO) test -count=1 ./...

fuzz: ## a short run of the request-path fuzzer
	$(GO) test ./pipeline -run '^$$' -fuzz '^FuzzRequest$$' -fuzztime $(FUZZTIME)

bench: build infra-up ## benchmarks (see README for the figures)
	$(GO) test -run '^$$' -bench 'CatalogCSV100k|CatalogSync100k|CatalogStateSync100k|InsertOutcomes|SinkThroughput' -benchtime 3x -benchmem ./pipeline/ ./connectors/...
	./deploy/bench/ingress.sh
	./deploy/bench/pipeline.sh

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
