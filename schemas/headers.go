package schemas

// Record headers. The DLQ names are a contract: the replay runbook and
// `shopstream replay` read them. Values are UTF-8 strings; times are RFC 3339
// with nanoseconds in UTC, numbers are decimal.
const (
	HeaderEventID         = "shopstream-event-id"
	HeaderEventType       = "shopstream-event-type"
	HeaderReceivedAt      = "shopstream-received-at"
	HeaderSignatureScheme = "shopstream-signature-scheme"

	HeaderOriginalTopic     = "shopstream-original-topic"
	HeaderOriginalPartition = "shopstream-original-partition"
	HeaderOriginalOffset    = "shopstream-original-offset"
	HeaderAttempts          = "shopstream-attempts"
	HeaderError             = "shopstream-error"
	HeaderFailedAt          = "shopstream-failed-at"

	// HeaderDueAt is set on retry tier records: the time before which the
	// tier consumer must not process the record.
	HeaderDueAt = "shopstream-due-at"
	// HeaderReplayedAt marks a record that `shopstream replay` put back.
	HeaderReplayedAt = "shopstream-replayed-at"

	// HeaderErrorReason is set on quarantined analytics records
	// (TopicEventsDLQ): a short snake_case label of why (type_mismatch,
	// undecodable, ...), the reason label of shopstream_sink_quarantined_total.
	HeaderErrorReason = "shopstream-error-reason"

	// HeaderCatalogPublished carries, on TopicCatalogPublished, the JSON
	// description of the catalog in the value (name, hash, rows, ...).
	HeaderCatalogPublished = "shopstream-catalog-published"
)
