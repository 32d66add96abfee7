// Package pipeline is shopstream's pure core: parsing and normalising webhook
// envelopes, signature checks, routing an event to its action, the catalog
// debouncer, the retry policy (tiers, max age, Retry-After clamp), the order
// ledger's rule (which order step may reach the customer) and its in-memory
// implementation, outcome records, status messages and CSV rendering.
//
// It must not import Kafka, ClickHouse, HTTP-server or configuration packages
// (of shopstream's own, only the pure internal/clock and internal/lru;
// layering_test.go checks):
// everything here is a function of its inputs and an injected clock (Now),
// tested with tables, and timer loops under testing/synctest. Connectors
// implement the small interfaces declared here (Notifier, Forwarder,
// OrderLedger, RetryObserver, ...); pipelinetest holds their conformance
// suites.
package pipeline
