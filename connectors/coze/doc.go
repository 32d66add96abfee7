// Package coze keeps a Coze knowledge base (the support bot's "dataset") in
// step with the shop catalog. It owns the HTTP conversation with Coze's open
// API and nothing else: it imports only the standard library, pipeline's
// error classification and the connectors' shared HTTP helpers
// (connectors/internal/httpx), never Kafka, ClickHouse or configuration
// packages.
//
// Coze has no "replace document" call, so ReplaceCatalog implements the
// protocol the design asks for: list, create a new document whose name
// carries the content hash, wait until Coze has processed it, and only then
// delete the previous catalog documents. If processing fails the new
// document is removed and the old catalog stays live, so the bot never
// answers from an empty knowledge base.
//
// Size limit: Coze's document/create call takes the file inline as base64 in
// one JSON request, so the whole catalog travels in a single body about 4/3
// of its size. Config.MaxContentBytes (64 MiB by default) caps the raw
// content; a larger catalog fails permanently instead of being sent to a
// gateway that would reject it after a long upload.
package coze
