// Package localfile holds the stand-ins for outside systems that `shopstream
// dev` uses when none is configured: the catalog goes to a CSV file instead
// of the Coze knowledge base, notifications to a JSON-lines file instead of
// the support inbox. The whole flow is then visible on one machine with
// `cat` and `tail -f`.
//
// They keep the contracts of the real targets that the processor relies on:
// a publish or a notification is durable (fsync) before it returns, a
// catalog with an unchanged hash is not written again, and a notification is
// written once per event id however often it is redelivered.
//
// It imports only the standard library and pipeline.
package localfile
