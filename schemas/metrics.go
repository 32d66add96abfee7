package schemas

// Metric names that alert rules, runbooks and dashboards
// (deploy/prometheus/alerts.yml, deploy/grafana) depend on, for the
// metrics whose meaning is a contract with operators.
const (
	// MetricSinkQuarantined counts records of TopicEvents the analytics sink
	// set aside in TopicEventsDLQ, by label reason (HeaderErrorReason).
	// Alert ShopstreamSinkQuarantining fires on any increase.
	MetricSinkQuarantined = "shopstream_sink_quarantined_total"
)
