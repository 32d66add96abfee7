// Package schemas holds what other systems see of shopstream: topic and header
// names, the JSON Schemas of the webhooks, the OpenAPI of the ingress, and the
// ClickHouse DDL and analyst queries. It is data and constants only; it imports
// nothing from the rest of the module.
package schemas
