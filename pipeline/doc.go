// Package pipeline is shopstream's pure core: parsing and normalising webhook
// envelopes, signature checks, routing an event to its action, the catalog
// debouncer, retry decisions, status messages and CSV rendering.
//
// It must not import Kafka, ClickHouse, HTTP-server or configuration packages:
// everything here is a function of its inputs and an injected clock, tested
// with tables.
package pipeline
