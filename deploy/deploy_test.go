package deploy_test

// These tests read the operations files as data and check them against the
// code. They need no Docker, Kubernetes or Prometheus: `docker compose
// config` cannot run on the CI machines (no Docker engine, no compose
// plugin), so docker-compose.yml is parsed here instead. When promtool is on
// PATH (Debian: apt-get install prometheus), the alert rules, the scrape
// configuration and the dashboard's queries are also checked by it, and the
// alert rules are unit-tested with it (alertCases).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// root is the repository root: go test runs in deploy/.
const root = ".."

func path(elem ...string) string { return filepath.Join(append([]string{root}, elem...)...) }

func read(t *testing.T, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(path(elem...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ---------------------------------------------------------------- metrics

type metricKind int

const (
	counter metricKind = iota
	gauge
	histogram
)

// exposed is every metric the dashboard and the alert rules may name. A
// panel or rule naming anything else fails the test, and so does a
// shopstream_ metric of this list that the Go code no longer defines: rename
// a metric and this test shows what to update.
var exposed = map[string]metricKind{
	// connectors/ingress
	"shopstream_webhooks_received_total":          counter, // {kind,outcome}
	"shopstream_ingress_request_duration_seconds": histogram,
	"shopstream_ingress_in_flight_requests":       gauge,
	// connectors/kafka: processor
	"shopstream_events_processed_total":   counter, // {event_type,outcome}
	"shopstream_event_processing_seconds": histogram,
	"shopstream_dlq_records_total":        counter, // {event_type}
	"shopstream_retries_total":            counter, // {tier}
	// connectors/kafka: retry metrics (RetryMetrics)
	"shopstream_held_events":             gauge,
	"shopstream_held_oldest_age_seconds": gauge,
	"shopstream_retry_max_age_seconds":   gauge,
	"shopstream_retry_event_age_seconds": histogram,
	"shopstream_dead_letters_total":      counter, // {cause}
	// connectors/kafka: catalog trigger
	"shopstream_catalog_syncs_total":           counter, // {result}
	"shopstream_catalog_sync_events_coalesced": histogram,
	"shopstream_catalog_sync_duration_seconds": histogram,
	// connectors/kafka: sink
	"shopstream_analytics_rows_written_total":    counter,
	"shopstream_analytics_insert_failures_total": counter,
	"shopstream_analytics_batch_seconds":         histogram,
	"shopstream_analytics_rows_invalid_total":    counter,
	"shopstream_sink_quarantined_total":          counter, // {reason}
	// connectors/kafka: outcome writer ({role})
	"shopstream_outcomes_dropped_total": counter,
	"shopstream_outcomes_written_total": counter,
	// connectors/kafka/alertdigest: store alerts
	"shopstream_alerts_raised_total":    counter, // {trigger}
	"shopstream_alert_deliveries_total": counter, // {channel,result}
	"shopstream_alerts_deferred_total":  counter, // {channel}
	// connectors/kafka: lag monitor
	"shopstream_consumer_lag": gauge, // {group,topic}

	// franz-go's kprom plugin, namespace shopstream, subsystem kafka, with
	// the client_id label (connectors/kafka/client.go); kprom's default set.
	"shopstream_kafka_connects_total":                 counter,
	"shopstream_kafka_connect_errors_total":           counter,
	"shopstream_kafka_disconnects_total":              counter,
	"shopstream_kafka_write_bytes_total":              counter,
	"shopstream_kafka_write_errors_total":             counter,
	"shopstream_kafka_read_bytes_total":               counter,
	"shopstream_kafka_read_errors_total":              counter,
	"shopstream_kafka_produce_bytes_total":            counter,
	"shopstream_kafka_fetch_bytes_total":              counter,
	"shopstream_kafka_buffered_produce_records_total": gauge,
	"shopstream_kafka_buffered_produce_bytes":         gauge,
	"shopstream_kafka_buffered_fetch_records_total":   gauge,
	"shopstream_kafka_buffered_fetch_bytes":           gauge,

	// Go and process collectors (cmd/shopstream newRegistry).
	"go_goroutines":                 gauge,
	"process_resident_memory_bytes": gauge,
	// Prometheus' own per-target series.
	"up": gauge,
}

// checkMetric reports whether name is an exposed series: a counter or gauge
// by its name, a histogram by its _bucket, _sum or _count series.
func checkMetric(name string) error {
	if k, ok := exposed[name]; ok {
		if k == histogram {
			return fmt.Errorf("%s is a histogram: use %[1]s_bucket, _sum or _count", name)
		}
		return nil
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if k, known := exposed[base]; known && k == histogram {
				return nil
			}
		}
	}
	return fmt.Errorf("%s is not a metric shopstream exposes (see exposed in deploy_test.go)", name)
}

var (
	reString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	reGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	reBraces   = regexp.MustCompile(`\{[^}]*\}`)
	reBrackets = regexp.MustCompile(`\[[^\]]*\]`)
	reIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
)

var promqlKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "offset": true, "and": true, "or": true, "unless": true, "atan2": true,
	"inf": true, "nan": true, "Inf": true, "NaN": true,
}

// metricNames returns the metric names a PromQL expression selects: every
// identifier that is not a function or aggregation (followed by "("), a
// keyword, a label in a grouping clause, a label matcher or a duration.
func metricNames(expr string) []string {
	s := reString.ReplaceAllString(expr, `""`)
	s = reGrouping.ReplaceAllString(s, " ")
	s = reBraces.ReplaceAllString(s, " ")
	s = reBrackets.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range reIdent.FindAllStringIndex(s, -1) {
		id := s[loc[0]:loc[1]]
		if loc[0] > 0 && (s[loc[0]-1] == '$' || (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9') || s[loc[0]-1] == '.') {
			continue // a Grafana variable, or the unit of a number (1e3)
		}
		rest := strings.TrimLeft(s[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") || promqlKeywords[id] {
			continue
		}
		// "sum by (x) (...)" had its grouping removed; a trailing
		// "sum (...)" is caught above. What is left is a metric name.
		names = append(names, id)
	}
	return names
}

func TestMetricNamesParser(t *testing.T) {
	got := metricNames(`histogram_quantile(0.95, sum by (le, event_type) (rate(shopstream_event_processing_seconds_bucket{job=~"shopstream-.*"}[$__rate_interval])))
		/ on (job) group_left sum without (x) (up == bool 1) unless max(shopstream_consumer_lag offset 5m) > 1e3`)
	want := []string{"shopstream_event_processing_seconds_bucket", "up", "shopstream_consumer_lag"}
	if !slices.Equal(got, want) {
		t.Fatalf("metricNames = %q, want %q", got, want)
	}
}

// TestExposedMetricsExistInCode: each shopstream_ metric of the list is
// still defined by the Go code (a string literal outside tests), and kprom
// still exports under shopstream_kafka_.
func TestExposedMetricsExistInCode(t *testing.T) {
	defined := map[string]bool{}
	reLit := regexp.MustCompile(`"(shopstream_[a-z0-9_]+)"`)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "var", "bin", "deploy":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range reLit.FindAllSubmatch(b, -1) {
			defined[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range exposed {
		if !strings.HasPrefix(name, "shopstream_") || strings.HasPrefix(name, "shopstream_kafka_") {
			continue
		}
		if !defined[name] {
			t.Errorf("%s is in the test's list but no Go file defines it any more: update the dashboard, alerts and list", name)
		}
	}
	client := string(read(t, "connectors", "kafka", "client.go"))
	for _, s := range []string{`kprom.NewMetrics("shopstream"`, `kprom.Subsystem("kafka")`, `kprom.WithClientLabel()`} {
		if !strings.Contains(client, s) {
			t.Errorf("connectors/kafka/client.go no longer has %s: the shopstream_kafka_* names and client_id label in the dashboard depend on it", s)
		}
	}
}

// ---------------------------------------------------------------- settings

// checkedEnv: the environment names shopstream reads. Any such name in a
// manifest must be a setting, so that a typo cannot silently fall back to a
// default.
var checkedEnv = regexp.MustCompile(`^(SHOPSTREAM|EVERSHOP|COZE|INBOX|WEBHOOK|CLICKHOUSE)_`)

// knownEnv extracts the env names from cmd/shopstream/settings.go, read as
// text: {"key", "ENV", "default", "doc"}.
func knownEnv(t *testing.T) map[string]bool {
	t.Helper()
	src := read(t, "cmd", "shopstream", "settings.go")
	re := regexp.MustCompile(`\{\s*"[a-z0-9_.]+"\s*,\s*"([A-Z][A-Z0-9_]*)"\s*,`)
	known := map[string]bool{}
	for _, m := range re.FindAllSubmatch(src, -1) {
		known[string(m[1])] = true
	}
	for _, must := range []string{"EVERSHOP_WEBHOOK_SECRET", "SHOPSTREAM_KAFKA_BROKERS", "SHOPSTREAM_ADMIN_ADDR", "CLICKHOUSE_DSN", "INBOX_API_URL"} {
		if !known[must] {
			t.Fatalf("settings.go parsing found %d names, not %s: has the settings list changed shape?", len(known), must)
		}
	}
	return known
}

func checkEnvNames(t *testing.T, where string, names []string, known map[string]bool) {
	t.Helper()
	for _, n := range names {
		if checkedEnv.MatchString(n) && !known[n] {
			t.Errorf("%s: %s is not a setting of cmd/shopstream/settings.go", where, n)
		}
	}
}

// requiredEnv: what each subcommand refuses to start without outside dev
// (cmd/shopstream/config.go, serve.go, process.go, sink.go). Only serve
// verifies webhooks, so only serve requires (and is given) the secret.
var requiredEnv = map[string][]string{
	"serve":   {"EVERSHOP_WEBHOOK_SECRET", "SHOPSTREAM_KAFKA_BROKERS"},
	"process": {"SHOPSTREAM_KAFKA_BROKERS", "INBOX_API_URL", "INBOX_API_TOKEN"},
	"sink":    {"SHOPSTREAM_KAFKA_BROKERS", "CLICKHOUSE_DSN"},
	"topics":  {"SHOPSTREAM_KAFKA_BROKERS"},
	"migrate": {"CLICKHOUSE_DSN"},
}

var subcommands = []string{"serve", "process", "sink", "dev", "topics", "migrate", "replay", "console", "sign"}

const adminPort = 9102

// ---------------------------------------------------------------- alerts

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var reDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)

func TestAlertRules(t *testing.T) {
	var rf ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(read(t, "deploy", "prometheus", "alerts.yml")))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	seen := map[string]bool{}
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			n++
			name := r.Alert
			if name == "" {
				name = "record " + r.Record
			}
			if strings.TrimSpace(r.Expr) == "" {
				t.Errorf("%s: no expr", name)
			}
			for _, m := range metricNames(r.Expr) {
				if err := checkMetric(m); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			if r.Alert == "" {
				continue
			}
			if seen[r.Alert] {
				t.Errorf("%s: defined twice", r.Alert)
			}
			seen[r.Alert] = true
			if !reDuration.MatchString(r.For) {
				t.Errorf("%s: for %q is missing or not a duration", r.Alert, r.For)
			}
			if sev := r.Labels["severity"]; sev != "critical" && sev != "warning" && sev != "info" {
				t.Errorf("%s: labels.severity %q, want critical, warning or info", r.Alert, sev)
			}
			if strings.TrimSpace(r.Annotations["summary"]) == "" {
				t.Errorf("%s: no annotations.summary", r.Alert)
			}
			if len(strings.TrimSpace(r.Annotations["runbook"])) < 40 {
				t.Errorf("%s: annotations.runbook must say what to do", r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatal("alerts.yml has no rules")
	}

	// The alerts operations rely on, with what their expressions must say.
	required := []struct {
		name, forDur string
		has          []string
	}{
		{"ShopstreamDLQGrowing", "", []string{"increase(shopstream_dlq_records_total[10m])", "> 0"}},
		{"ShopstreamConsumerLagHigh", "5m", []string{"shopstream_consumer_lag", "> 100"}},
		{"ShopstreamSuccessRateLow", "", []string{"[15m]", "< 0.99", "shopstream_events_processed_total"}},
		{"ShopstreamCatalogSyncFailing", "", []string{`shopstream_catalog_syncs_total{result="failed"}`}},
		{"ShopstreamSinkBehind", "10m", []string{`group="shopstream-sink"`, `topic="evershop.events"`, "> 1000"}},
		{"ShopstreamSinkInsertFailing", "", []string{"shopstream_analytics_insert_failures_total"}},
		{"ShopstreamSinkQuarantining", "", []string{"shopstream_sink_quarantined_total", "by (reason)", "> 0"}},
		{"ShopstreamIngressUnavailable", "", []string{`shopstream_webhooks_received_total{outcome="unavailable"}`}},
		{"ShopstreamOutcomesDropped", "", []string{"shopstream_outcomes_dropped_total"}},
		{"ShopstreamTargetDown", "", []string{"up{", "== 0"}},
		{"ShopstreamAlertChannelFailing", "5m", []string{`result=~"failed|refused"`, `result="delivered"`, "by (channel)"}},
		{"ShopstreamAlertRefused", "", []string{`shopstream_alert_deliveries_total{result="refused"}`, "> 0"}},
	}
	for _, req := range required {
		found := false
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Alert != req.name {
					continue
				}
				found = true
				for _, s := range req.has {
					if !strings.Contains(r.Expr, s) {
						t.Errorf("%s: expr should contain %q:\n%s", req.name, s, r.Expr)
					}
				}
				if req.forDur != "" && r.For != req.forDur {
					t.Errorf("%s: for %s, want %s", req.name, r.For, req.forDur)
				}
			}
		}
		if !found {
			t.Errorf("alerts.yml has no %s", req.name)
		}
	}
}

// promtool runs promtool with args from the repository root, or skips.
func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH (Debian: apt-get install prometheus); the YAML checks above still ran")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool(t, "check", "rules", "deploy/prometheus/alerts.yml")
}

func TestPromtoolCheckConfig(t *testing.T) {
	promtool(t, "check", "config", "deploy/prometheus/prometheus.yml")
}

// alertCase is one promtool unit test of the alert rules: input series,
// then which alerts fire (with which labels) at an evaluation time.
type alertCase struct {
	name   string
	series map[string]string // series -> promtool values notation
	evals  []alertEval
}

type alertEval struct {
	at     string
	alert  string
	labels []map[string]string // one per expected alert; empty: must not fire
}

var alertCases = []alertCase{
	{"a dead letter fires DLQGrowing", map[string]string{
		`shopstream_dlq_records_total{job="shopstream-process",instance="process:9102",event_type="order.updated"}`:    "0x5 1x20",
		`shopstream_dlq_records_total{job="shopstream-process",instance="process:9102",event_type="customer.created"}`: "0x25",
	}, []alertEval{
		{"4m", "ShopstreamDLQGrowing", nil},
		{"10m", "ShopstreamDLQGrowing", []map[string]string{{"severity": "warning", "event_type": "order.updated"}}},
		{"25m", "ShopstreamDLQGrowing", nil}, // no new dead letter for 10 minutes
	}},
	{"skipped and duplicate outcomes are not failures", map[string]string{
		`shopstream_events_processed_total{job="shopstream-process",event_type="order.created",outcome="skipped"}`:   "0+30x40",
		`shopstream_events_processed_total{job="shopstream-process",event_type="order.updated",outcome="completed"}`: "0+10x40",
		`shopstream_events_processed_total{job="shopstream-process",event_type="order.updated",outcome="duplicate"}`: "0+2x40",
		`shopstream_dlq_records_total{job="shopstream-process",event_type="order.updated"}`:                          "0x40",
	}, []alertEval{{"30m", "ShopstreamSuccessRateLow", nil}}},
	{"over 1% dead-lettered fires SuccessRateLow", map[string]string{
		`shopstream_events_processed_total{job="shopstream-process",event_type="order.updated",outcome="completed"}`: "0+10x40",
		`shopstream_events_processed_total{job="shopstream-process",event_type="order.updated",outcome="dead"}`:      "0+1x40",
		`shopstream_dlq_records_total{job="shopstream-process",event_type="order.updated"}`:                          "0+1x40",
	}, []alertEval{{"30m", "ShopstreamSuccessRateLow", []map[string]string{{"severity": "critical"}}}}},
	{"processor lag over 100 for 5m; sink lag under its own threshold", map[string]string{
		`shopstream_consumer_lag{job="shopstream-process",instance="a",group="shopstream-processor",topic="evershop.order"}`: "150x20",
		`shopstream_consumer_lag{job="shopstream-process",instance="b",group="shopstream-processor",topic="evershop.order"}`: "150x20",
		`shopstream_consumer_lag{job="shopstream-sink",instance="c",group="shopstream-sink",topic="evershop.events"}`:        "500x20",
	}, []alertEval{
		{"3m", "ShopstreamConsumerLagHigh", nil},
		{"10m", "ShopstreamConsumerLagHigh", []map[string]string{{"severity": "warning", "group": "shopstream-processor", "topic": "evershop.order"}}},
		{"15m", "ShopstreamSinkBehind", nil},
	}},
	{"sink over 1000 behind for 10m", map[string]string{
		`shopstream_consumer_lag{job="shopstream-sink",instance="c",group="shopstream-sink",topic="evershop.events"}`: "2000x30",
	}, []alertEval{
		{"8m", "ShopstreamSinkBehind", nil},
		{"15m", "ShopstreamSinkBehind", []map[string]string{{"severity": "warning"}}},
		{"15m", "ShopstreamConsumerLagHigh", nil},
	}},
	{"sink insert failures", map[string]string{
		`shopstream_analytics_insert_failures_total{job="shopstream-sink"}`: "0+1x30",
	}, []alertEval{{"15m", "ShopstreamSinkInsertFailing", []map[string]string{{"severity": "warning"}}}}},
	{"a quarantined outcome fires SinkQuarantining per reason, then clears", map[string]string{
		`shopstream_sink_quarantined_total{job="shopstream-sink",instance="sink:9102",reason="type_mismatch"}`: "0x5 1x30",
		`shopstream_sink_quarantined_total{job="shopstream-sink",instance="sink:9102",reason="undecodable"}`:   "0x35",
	}, []alertEval{
		{"5m", "ShopstreamSinkQuarantining", nil},
		{"8m", "ShopstreamSinkQuarantining", []map[string]string{{"severity": "warning", "reason": "type_mismatch"}}},
		{"30m", "ShopstreamSinkQuarantining", nil}, // nothing new for 10 minutes
	}},
	{"quarantine does not count as insert failures", map[string]string{
		`shopstream_sink_quarantined_total{job="shopstream-sink",reason="value_out_of_range"}`: "0+1x30",
		`shopstream_analytics_insert_failures_total{job="shopstream-sink"}`:                    "0x30",
	}, []alertEval{{"15m", "ShopstreamSinkInsertFailing", nil}}},
	{"catalog syncs failing with no success", map[string]string{
		`shopstream_catalog_syncs_total{job="shopstream-process",result="failed"}`:    "0+1x30",
		`shopstream_catalog_syncs_total{job="shopstream-process",result="uploaded"}`:  "0x30",
		`shopstream_catalog_syncs_total{job="shopstream-process",result="unchanged"}`: "0x30",
	}, []alertEval{{"20m", "ShopstreamCatalogSyncFailing", []map[string]string{{"severity": "warning"}}}}},
	{"a failure between successful syncs does not fire", map[string]string{
		`shopstream_catalog_syncs_total{job="shopstream-process",result="failed"}`:   "0x10 1x20",
		`shopstream_catalog_syncs_total{job="shopstream-process",result="uploaded"}`: "0+1x30",
	}, []alertEval{{"20m", "ShopstreamCatalogSyncFailing", nil}}},
	{"ingress answering 503", map[string]string{
		`shopstream_webhooks_received_total{job="shopstream-serve",kind="order",outcome="unavailable"}`: "0+5x20",
		`shopstream_webhooks_received_total{job="shopstream-serve",kind="order",outcome="accepted"}`:    "0+50x20",
	}, []alertEval{{"10m", "ShopstreamIngressUnavailable", []map[string]string{{"severity": "critical"}}}}},
	{"outcome records dropped", map[string]string{
		`shopstream_outcomes_dropped_total{job="shopstream-process",instance="a",role="processor"}`: "0x3 7x20",
	}, []alertEval{{"6m", "ShopstreamOutcomesDropped", []map[string]string{{"severity": "warning", "job": "shopstream-process", "role": "processor"}}}}},
	{"an event held for hours fires EventsHeldLong, well before retention", map[string]string{
		// One member holds an event since 5h50m before the test's start; the
		// other holds nothing.
		`shopstream_held_oldest_age_seconds{job="shopstream-process",instance="a"}`: "21000+60x30",
		`shopstream_held_oldest_age_seconds{job="shopstream-process",instance="b"}`: "0x30",
	}, []alertEval{
		{"5m", "ShopstreamEventsHeldLong", nil}, // 5h55m: under 6 h
		{"20m", "ShopstreamEventsHeldLong", []map[string]string{{"severity": "warning"}}},
	}},
	{"with a 2 h max age, a 40-minute hold fires (a quarter of the max age)", map[string]string{
		`shopstream_held_oldest_age_seconds{job="shopstream-process",instance="a"}`: "1800+60x30",
		`shopstream_retry_max_age_seconds{job="shopstream-process",instance="a"}`:   "7200x30",
	}, []alertEval{
		{"5m", "ShopstreamEventsHeldLong", nil}, // over 30 min since 1m: pending, not yet for 5m
		{"25m", "ShopstreamEventsHeldLong", []map[string]string{{"severity": "warning"}}},
	}},
	{"with a 7-day max age, a 10-hour hold does not fire yet", map[string]string{
		`shopstream_held_oldest_age_seconds{job="shopstream-process",instance="a"}`: "36000+60x30",
		`shopstream_retry_max_age_seconds{job="shopstream-process",instance="a"}`:   "604800x30",
	}, []alertEval{{"20m", "ShopstreamEventsHeldLong", nil}}},
	{"a short hold does not fire", map[string]string{
		`shopstream_held_oldest_age_seconds{job="shopstream-process",instance="a"}`: "0+60x60",
	}, []alertEval{{"60m", "ShopstreamEventsHeldLong", nil}}},
	{"retrying events older than 6 h", map[string]string{
		`shopstream_retry_event_age_seconds_count{job="shopstream-process",instance="a"}`:             "0+3x40",
		`shopstream_retry_event_age_seconds_bucket{job="shopstream-process",instance="a",le="21600"}`: "0+2x40",
		`shopstream_retry_event_age_seconds_bucket{job="shopstream-process",instance="a",le="+Inf"}`:  "0+3x40",
	}, []alertEval{{"20m", "ShopstreamRetryingOldEvents", []map[string]string{{"severity": "warning"}}}}},
	{"retrying only young events does not fire", map[string]string{
		`shopstream_retry_event_age_seconds_count{job="shopstream-process",instance="a"}`:             "0+3x40",
		`shopstream_retry_event_age_seconds_bucket{job="shopstream-process",instance="a",le="21600"}`: "0+3x40",
	}, []alertEval{{"30m", "ShopstreamRetryingOldEvents", nil}}},
	{"a failing alert channel that delivers nothing fires AlertChannelFailing; one that recovers does not", map[string]string{
		`shopstream_alert_deliveries_total{job="shopstream-process",instance="a",channel="webhook",result="failed"}`:    "0+2x40",
		`shopstream_alert_deliveries_total{job="shopstream-process",instance="a",channel="webhook",result="delivered"}`: "0x40",
		`shopstream_alert_deliveries_total{job="shopstream-process",instance="a",channel="inbox",result="failed"}`:      "0+1x40",
		`shopstream_alert_deliveries_total{job="shopstream-process",instance="a",channel="inbox",result="delivered"}`:   "0+1x40",
	}, []alertEval{
		{"3m", "ShopstreamAlertChannelFailing", nil},
		{"25m", "ShopstreamAlertChannelFailing", []map[string]string{{"severity": "warning", "channel": "webhook"}}},
	}},
	{"a refused alert fires AlertRefused, then clears", map[string]string{
		`shopstream_alert_deliveries_total{job="shopstream-process",instance="a",channel="webhook",result="refused"}`:   "0x5 1x30",
		`shopstream_alert_deliveries_total{job="shopstream-process",instance="a",channel="webhook",result="delivered"}`: "0+1x35",
	}, []alertEval{
		{"4m", "ShopstreamAlertRefused", nil},
		{"8m", "ShopstreamAlertRefused", []map[string]string{{"severity": "warning", "channel": "webhook"}}},
		{"30m", "ShopstreamAlertRefused", nil},
	}},
	{"webhook alerts held overnight are not consumer lag; a dead alert is not a failed event", map[string]string{
		`shopstream_consumer_lag{job="shopstream-process",instance="a",group="shopstream-alerts",topic="shopstream.alerts.deferred"}`: "500x30",
		`shopstream_events_processed_total{job="shopstream-process",event_type="order.updated",outcome="completed"}`:                  "0+10x40",
		`shopstream_events_processed_total{job="shopstream-process",event_type="alert.delivery",outcome="dead"}`:                      "0+1x40",
		`shopstream_dlq_records_total{job="shopstream-process",event_type="alert.delivery"}`:                                          "0+1x40",
		`shopstream_dlq_records_total{job="shopstream-process",event_type="order.updated"}`:                                           "0x40",
	}, []alertEval{
		{"20m", "ShopstreamConsumerLagHigh", nil},
		{"30m", "ShopstreamSuccessRateLow", nil},
	}},
	{"a role that cannot be scraped", map[string]string{
		`up{job="shopstream-sink",instance="sink:9102"}`:   "1 1 0x10",
		`up{job="shopstream-serve",instance="serve:9102"}`: "1x12",
		`up{job="prometheus",instance="localhost:9090"}`:   "0x12",
	}, []alertEval{{"8m", "ShopstreamTargetDown", []map[string]string{{"severity": "critical", "job": "shopstream-sink", "instance": "sink:9102"}}}}},
}

// TestPromtoolAlertUnitTests runs alertCases through `promtool test rules`
// against a copy of alerts.yml without annotations (promtool compares
// annotations verbatim; the runbooks are prose, checked above).
func TestPromtoolAlertUnitTests(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool not on PATH")
	}
	var rules map[string]any
	if err := yaml.Unmarshal(read(t, "deploy", "prometheus", "alerts.yml"), &rules); err != nil {
		t.Fatal(err)
	}
	for _, g := range rules["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			delete(r.(map[string]any), "annotations")
		}
	}
	dir := t.TempDir()
	write := func(name string, v any) string {
		b, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	rulesFile := write("alerts.yml", rules)

	type expAlert struct {
		ExpLabels map[string]string `yaml:"exp_labels"`
	}
	type ruleTest struct {
		EvalTime  string     `yaml:"eval_time"`
		Alertname string     `yaml:"alertname"`
		ExpAlerts []expAlert `yaml:"exp_alerts"`
	}
	type series struct {
		Series string `yaml:"series"`
		Values string `yaml:"values"`
	}
	type test struct {
		Name          string     `yaml:"name"`
		Interval      string     `yaml:"interval"`
		InputSeries   []series   `yaml:"input_series"`
		AlertRuleTest []ruleTest `yaml:"alert_rule_test"`
	}
	var tests []test
	for _, c := range alertCases {
		tc := test{Name: c.name, Interval: "1m"}
		keys := make([]string, 0, len(c.series))
		for k := range c.series {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			tc.InputSeries = append(tc.InputSeries, series{k, c.series[k]})
		}
		for _, e := range c.evals {
			rt := ruleTest{EvalTime: e.at, Alertname: e.alert, ExpAlerts: []expAlert{}}
			for _, l := range e.labels {
				rt.ExpAlerts = append(rt.ExpAlerts, expAlert{l})
			}
			tc.AlertRuleTest = append(tc.AlertRuleTest, rt)
		}
		tests = append(tests, tc)
	}
	testFile := write("alerts_test.yml", map[string]any{
		"rule_files":          []string{rulesFile},
		"evaluation_interval": "1m",
		"tests":               tests,
	})
	promtool(t, "test", "rules", testFile)
}

// TestPromtoolDashboardQueries has promtool parse every dashboard query, as
// recording rules with Grafana's variables replaced.
func TestPromtoolDashboardQueries(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool not on PATH")
	}
	d := loadDashboard(t)
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	vars := strings.NewReplacer("$__rate_interval", "1m", "$__range", "1h", "$__interval", "1m")
	for i, tg := range d.targets() {
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard:query_%d", i), Expr: vars.Replace(tg.Expr)})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(f)
	if err != nil {
		t.Fatal(err)
	}
	promtool(t, "check", "rules", abs)
}

// ---------------------------------------------------------------- prometheus.yml

type promConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string          `yaml:"targets"`
			Labels  map[string]string `yaml:"labels"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// TestPrometheusScrapesEveryRole: prometheus.yml scrapes each role's admin
// port under a shopstream-* job (ShopstreamTargetDown selects on that) at a
// compose service that runs that role, and its rule files exist.
func TestPrometheusScrapesEveryRole(t *testing.T) {
	var pc promConfig
	if err := yaml.Unmarshal(read(t, "deploy", "prometheus", "prometheus.yml"), &pc); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pc.RuleFiles, "alerts.yml") {
		t.Errorf("rule_files %q does not load alerts.yml", pc.RuleFiles)
	}
	for _, rf := range pc.RuleFiles {
		if _, err := os.Stat(path("deploy", "prometheus", rf)); err != nil {
			t.Errorf("rule file: %v", err)
		}
	}
	cf := loadCompose(t)
	scraped := map[string]bool{}
	for _, sc := range pc.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if _, ok := st.Labels["role"]; ok {
				t.Errorf("job %s: a target label \"role\" would clash with the role label of shopstream_outcomes_*", sc.JobName)
			}
			for _, target := range st.Targets {
				host, port, _ := strings.Cut(target, ":")
				svc, ok := cf.Services[host]
				if !ok {
					if strings.HasPrefix(sc.JobName, "shopstream-") {
						t.Errorf("job %s: target %s is not a compose service", sc.JobName, target)
					}
					continue
				}
				cmd := svc.command()
				if !strings.HasPrefix(sc.JobName, "shopstream-") {
					t.Errorf("job %s scrapes shopstream %s: job names must start with shopstream- for ShopstreamTargetDown", sc.JobName, cmd)
				}
				if want := strconv.Itoa(svc.adminPort()); port != want {
					t.Errorf("job %s: target %s, but %s's admin listener is on %s", sc.JobName, target, host, want)
				}
				scraped[cmd] = true
			}
		}
	}
	for _, role := range []string{"serve", "process", "sink"} {
		if !scraped[role] {
			t.Errorf("prometheus.yml does not scrape a %s service", role)
		}
	}
}

// ---------------------------------------------------------------- grafana

type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // collapsed rows
}

type target struct{ Panel, Expr string }

func (d dashboard) all() []panel {
	var out []panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

func (d dashboard) targets() []target {
	var out []target
	for _, p := range d.all() {
		for _, tg := range p.Targets {
			out = append(out, target{p.Title, tg.Expr})
		}
	}
	return out
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(read(t, "deploy", "grafana", "dashboards", "shopstream.json"), &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	return d
}

// provisioned returns the datasource uids and the dashboard provider paths.
func provisioned(t *testing.T) (uids, dashboardPaths []string) {
	t.Helper()
	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(read(t, "deploy", "grafana", "provisioning", "datasources", "prometheus.yml"), &ds); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds.Datasources {
		if d.Type != "prometheus" || d.UID == "" {
			t.Errorf("datasource %+v: want type prometheus with a uid", d)
		}
		uids = append(uids, d.UID)
	}
	var dp struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(read(t, "deploy", "grafana", "provisioning", "dashboards", "shopstream.yml"), &dp); err != nil {
		t.Fatal(err)
	}
	for _, p := range dp.Providers {
		dashboardPaths = append(dashboardPaths, p.Options.Path)
	}
	return uids, dashboardPaths
}

func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	uids, _ := provisioned(t)
	if len(uids) != 1 {
		t.Fatalf("want one provisioned datasource, got %q", uids)
	}
	uid := uids[0]
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard needs a uid and a title")
	}
	ids := map[int]bool{}
	type rect struct {
		title      string
		x, y, w, h int
	}
	var rects []rect
	used := map[string]bool{}
	for _, p := range d.all() {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, p.GridPos)
		}
		for _, r := range rects {
			if p.GridPos.X < r.x+r.w && r.x < p.GridPos.X+p.GridPos.W && p.GridPos.Y < r.y+r.h && r.y < p.GridPos.Y+p.GridPos.H {
				t.Errorf("panels %q and %q overlap", p.Title, r.title)
			}
		}
		rects = append(rects, rect{p.Title, p.GridPos.X, p.GridPos.Y, p.GridPos.W, p.GridPos.H})
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != uid {
			t.Errorf("panel %q: datasource must be the provisioned uid %q", p.Title, uid)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource != nil && tg.Datasource.UID != uid {
				t.Errorf("panel %q query %s: datasource uid %q, want %q", p.Title, tg.RefID, tg.Datasource.UID, uid)
			}
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q query %s: empty expr", p.Title, tg.RefID)
			}
			for _, m := range metricNames(tg.Expr) {
				if err := checkMetric(m); err != nil {
					t.Errorf("panel %q: %v", p.Title, err)
				}
				used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")] = true
			}
		}
	}

	// What the dashboard must show (the brief of deploy/).
	for _, m := range []string{
		"shopstream_events_processed_total",           // success rate
		"shopstream_event_processing_seconds",         // p50/p95
		"shopstream_consumer_lag",                     // queue depth
		"shopstream_dlq_records_total",                // DLQ rate and total
		"shopstream_retries_total",                    // retries by tier
		"shopstream_catalog_syncs_total",              // catalog syncs
		"shopstream_catalog_sync_events_coalesced",    // coalesced per sync
		"shopstream_webhooks_received_total",          // ingress by outcome
		"shopstream_ingress_request_duration_seconds", // latency p99
		"shopstream_analytics_rows_written_total",     // rows/s
		"shopstream_analytics_insert_failures_total",  // insert failures
	} {
		if !used[m] {
			t.Errorf("no dashboard panel uses %s", m)
		}
	}
	exprs := ""
	for _, tg := range d.targets() {
		exprs += tg.Expr + "\n"
	}
	for _, s := range []string{
		"histogram_quantile(0.5, sum by (le, event_type) (rate(shopstream_event_processing_seconds_bucket",
		"histogram_quantile(0.95, sum by (le, event_type) (rate(shopstream_event_processing_seconds_bucket",
		"histogram_quantile(0.99, sum by (le, kind) (rate(shopstream_ingress_request_duration_seconds_bucket",
		`shopstream_events_processed_total{outcome="completed"}`,
		`outcome=~"completed|dead|duplicate|superseded|skipped"`,
		"sum by (tier)", "max by (group, topic)",
	} {
		if !strings.Contains(exprs, s) {
			t.Errorf("dashboard queries lack %q", s)
		}
	}
}

// ---------------------------------------------------------------- compose

type composeService struct {
	Image       string `yaml:"image"`
	Build       any    `yaml:"build"`
	Command     any    `yaml:"command"`
	Environment any    `yaml:"environment"`
	Ports       []any  `yaml:"ports"`
	Volumes     []any  `yaml:"volumes"`
	Restart     string `yaml:"restart"`
	DependsOn   any    `yaml:"depends_on"`
	Healthcheck *struct {
		Test    any  `yaml:"test"`
		Disable bool `yaml:"disable"`
	} `yaml:"healthcheck"`
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
	Configs  map[string]struct {
		Content string `yaml:"content"`
		File    string `yaml:"file"`
	} `yaml:"configs"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var cf composeFile
	if err := yaml.Unmarshal(read(t, "docker-compose.yml"), &cf); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(cf.Services) == 0 {
		t.Fatal("docker-compose.yml: no services")
	}
	return cf
}

func strs(v any) []string {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		return strings.Fields(v)
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

func (s composeService) shopstream() bool {
	return s.Build != nil || strings.HasPrefix(s.Image, "shopstream")
}

func (s composeService) command() string {
	if c := strs(s.Command); len(c) > 0 {
		return c[0]
	}
	return "serve" // the image's CMD
}

// env returns the environment as a map (map or KEY=VALUE list form).
func (s composeService) env() map[string]string {
	out := map[string]string{}
	switch e := s.Environment.(type) {
	case map[string]any:
		for k, v := range e {
			if v == nil {
				out[k] = ""
			} else {
				out[k] = fmt.Sprint(v)
			}
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(fmt.Sprint(kv), "=")
			out[k] = v
		}
	}
	return out
}

func (s composeService) adminPort() int {
	addr := s.env()["SHOPSTREAM_ADMIN_ADDR"]
	if _, p, ok := strings.Cut(addr, ":"); ok {
		if n, err := strconv.Atoi(p); err == nil {
			return n
		}
	}
	return adminPort
}

func (s composeService) oneShot() bool { return s.Restart == "no" }

func (s composeService) healthy() bool {
	return s.Healthcheck != nil && !s.Healthcheck.Disable && len(strs(s.Healthcheck.Test)) > 0 &&
		strs(s.Healthcheck.Test)[0] != "NONE"
}

func (s composeService) dependsOn() map[string]string {
	out := map[string]string{}
	switch d := s.DependsOn.(type) {
	case []any:
		for _, n := range d {
			out[fmt.Sprint(n)] = "service_started"
		}
	case map[string]any:
		for n, v := range d {
			cond := "service_started"
			if m, ok := v.(map[string]any); ok && m["condition"] != nil {
				cond = fmt.Sprint(m["condition"])
			}
			out[n] = cond
		}
	}
	return out
}

// portMapping is one published port: host side and container side.
type portMapping struct {
	hostIP          string
	host, container int
}

func parsePort(t *testing.T, svc string, v any) (portMapping, bool) {
	t.Helper()
	switch p := v.(type) {
	case map[string]any:
		pub, _ := strconv.Atoi(fmt.Sprint(p["published"]))
		tgt, _ := strconv.Atoi(fmt.Sprint(p["target"]))
		ip := ""
		if p["host_ip"] != nil {
			ip = fmt.Sprint(p["host_ip"])
		}
		return portMapping{ip, pub, tgt}, pub != 0
	default:
		s, _, _ := strings.Cut(fmt.Sprint(p), "/")
		parts := strings.Split(s, ":")
		var m portMapping
		var err1, err2 error
		switch len(parts) {
		case 1:
			m.container, err1 = strconv.Atoi(parts[0])
		case 2:
			m.host, err1 = strconv.Atoi(parts[0])
			m.container, err2 = strconv.Atoi(parts[1])
		case 3:
			m.hostIP = parts[0]
			m.host, err1 = strconv.Atoi(parts[1])
			m.container, err2 = strconv.Atoi(parts[2])
		}
		if len(parts) > 3 || err1 != nil || err2 != nil {
			t.Errorf("%s: port %q: want [ip:]host:container with single ports", svc, s)
			return m, false
		}
		return m, len(parts) > 1 // a container port alone is not published
	}
}

func TestCompose(t *testing.T) {
	cf := loadCompose(t)
	known := knownEnv(t)

	for _, name := range []string{"kafka", "clickhouse", "serve", "process", "sink", "prometheus", "grafana", "shopstream-topics", "shopstream-migrate"} {
		if _, ok := cf.Services[name]; !ok {
			t.Errorf("docker-compose.yml has no %s service", name)
		}
	}
	if img := cf.Services["kafka"].Image; !strings.HasPrefix(img, "apache/kafka:") {
		t.Errorf("kafka image %q, want apache/kafka", img)
	}
	kenv := cf.Services["kafka"].env()
	if !strings.Contains(kenv["KAFKA_PROCESS_ROLES"], "controller") || kenv["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "" {
		t.Errorf("kafka must run in KRaft mode (KAFKA_PROCESS_ROLES with controller, KAFKA_CONTROLLER_QUORUM_VOTERS)")
	}
	if _, zk := kenv["KAFKA_ZOOKEEPER_CONNECT"]; zk {
		t.Error("kafka: no ZooKeeper in Kafka 4")
	}
	if img := cf.Services["clickhouse"].Image; !strings.HasPrefix(img, "clickhouse/clickhouse-server:") {
		t.Errorf("clickhouse image %q, want clickhouse/clickhouse-server", img)
	}

	hostPorts := map[string]string{}
	names := make([]string, 0, len(cf.Services))
	for name := range cf.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		svc := cf.Services[name]
		if svc.Image == "" && svc.Build == nil {
			t.Errorf("%s: neither image nor build", name)
		}
		if svc.oneShot() {
			if !svc.shopstream() {
				t.Errorf("%s: restart \"no\" but not a shopstream one-shot", name)
			}
		} else if !svc.healthy() {
			t.Errorf("%s: a long-running service needs a healthcheck", name)
		}
		for dep, cond := range svc.dependsOn() {
			target, ok := cf.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s depends on unknown service %s", name, dep)
			case cond == "service_healthy" && !target.healthy():
				t.Errorf("%s waits for %s to be healthy, but it has no healthcheck", name, dep)
			case cond == "service_completed_successfully" && !target.oneShot():
				t.Errorf("%s waits for %s to complete, but it is not a one-shot (restart: \"no\")", name, dep)
			case cond != "service_started" && cond != "service_healthy" && cond != "service_completed_successfully":
				t.Errorf("%s: depends_on %s condition %q", name, dep, cond)
			}
		}
		for _, p := range svc.Ports {
			m, published := parsePort(t, name, p)
			if !published {
				continue
			}
			key := fmt.Sprintf("%s:%d", m.hostIP, m.host)
			if other, dup := hostPorts[key]; dup {
				t.Errorf("host port %d published by both %s and %s", m.host, other, name)
			}
			hostPorts[key] = name
		}
		for _, v := range svc.Volumes {
			src, _, _ := strings.Cut(fmt.Sprint(v), ":")
			if strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../") {
				if _, err := os.Stat(path(src)); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			} else if _, ok := cf.Volumes[src]; !ok && !strings.HasPrefix(src, "/") {
				t.Errorf("%s uses volume %s, not declared under volumes:", name, src)
			}
		}

		if !svc.shopstream() {
			continue
		}
		env := svc.env()
		envNames := make([]string, 0, len(env))
		for k := range env {
			envNames = append(envNames, k)
		}
		sort.Strings(envNames)
		checkEnvNames(t, "docker-compose.yml "+name, envNames, known)
		cmd := svc.command()
		if !slices.Contains(subcommands, cmd) {
			t.Errorf("%s: command %q is not a shopstream subcommand", name, cmd)
		}
		for _, req := range requiredEnv[cmd] {
			if strings.TrimSpace(env[req]) == "" {
				t.Errorf("%s (shopstream %s): %s must be set", name, cmd, req)
			}
		}
		if b := env["SHOPSTREAM_KAFKA_BROKERS"]; b != "" {
			host, _, _ := strings.Cut(b, ":")
			if _, ok := cf.Services[host]; !ok {
				t.Errorf("%s: SHOPSTREAM_KAFKA_BROKERS %q is not a compose service", name, b)
			}
		}
		if !svc.oneShot() && svc.Healthcheck != nil {
			test := strings.Join(strs(svc.Healthcheck.Test), " ")
			if !strings.Contains(test, fmt.Sprintf(":%d/readyz", svc.adminPort())) {
				t.Errorf("%s: healthcheck %q should probe /readyz on the admin port %d", name, test, svc.adminPort())
			}
		}
	}

	// The three roles run, serve publishes its webhook port.
	for _, role := range []string{"serve", "process", "sink"} {
		if got := cf.Services[role].command(); got != role {
			t.Errorf("service %s runs %q", role, got)
		}
	}
	webhooks := false
	for _, p := range cf.Services["serve"].Ports {
		if m, ok := parsePort(t, "serve", p); ok && m.container == 8080 {
			webhooks = true
		}
	}
	if !webhooks {
		t.Error("serve does not publish the webhook port 8080")
	}
	for name, c := range cf.Configs {
		if strings.HasPrefix(strings.TrimSpace(c.Content), "{") && !json.Valid([]byte(c.Content)) {
			t.Errorf("compose config %s: its JSON content does not parse", name)
		}
	}

	// Prometheus gets the alert rules, Grafana the provisioning and the
	// dashboards where the provider looks.
	mounts := func(svc string) map[string]string {
		out := map[string]string{}
		for _, v := range cf.Services[svc].Volumes {
			parts := strings.Split(fmt.Sprint(v), ":")
			if len(parts) >= 2 {
				out[filepath.Clean(parts[0])] = parts[1]
			}
		}
		return out
	}
	if _, ok := mounts("prometheus")["deploy/prometheus"]; !ok {
		t.Error("prometheus does not mount ./deploy/prometheus (prometheus.yml and alerts.yml)")
	}
	gm := mounts("grafana")
	if gm["deploy/grafana/provisioning"] != "/etc/grafana/provisioning" {
		t.Error("grafana does not mount ./deploy/grafana/provisioning at /etc/grafana/provisioning")
	}
	_, paths := provisioned(t)
	for _, p := range paths {
		if gm["deploy/grafana/dashboards"] != p {
			t.Errorf("the dashboard provider reads %s, but ./deploy/grafana/dashboards is mounted at %q", p, gm["deploy/grafana/dashboards"])
		}
	}
}

// ---------------------------------------------------------------- kubernetes

type k8sContainer struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
			ConfigMapKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"configMapKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	} `yaml:"securityContext"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sObject struct {
	file       string
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Resources  []string          `yaml:"resources"` // Kustomization
	Spec       struct {
		Replicas *int `yaml:"replicas"`
		Selector any  `yaml:"selector"`
		Ports    []struct {
			Port       int `yaml:"port"`
			TargetPort any `yaml:"targetPort"`
		} `yaml:"ports"`
		MinAvailable   any `yaml:"minAvailable"`
		MaxUnavailable any `yaml:"maxUnavailable"`
		Template       struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				RestartPolicy   string `yaml:"restartPolicy"`
				SecurityContext *struct {
					RunAsNonRoot *bool `yaml:"runAsNonRoot"`
					RunAsUser    *int  `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				Containers []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func loadK8s(t *testing.T) []k8sObject {
	t.Helper()
	files, err := filepath.Glob(path("deploy", "k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/k8s: %v", err)
	}
	var objs []k8sObject
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind == "" {
				continue // an empty document
			}
			o.file = filepath.Base(f)
			objs = append(objs, o)
		}
	}
	return objs
}

func matchLabels(sel any) map[string]string {
	out := map[string]string{}
	m, _ := sel.(map[string]any)
	if ml, ok := m["matchLabels"].(map[string]any); ok {
		m = ml
	}
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}

func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// portNumber resolves a probe or Service port (number or container port name).
func portNumber(c k8sContainer, p any) int {
	switch v := p.(type) {
	case int:
		return v
	case string:
		for _, cp := range c.Ports {
			if cp.Name == v {
				return cp.ContainerPort
			}
		}
		n, _ := strconv.Atoi(v)
		return n
	}
	return 0
}

func TestKubernetes(t *testing.T) {
	objs := loadK8s(t)
	known := knownEnv(t)
	allowed := map[string]bool{"Namespace": true, "ConfigMap": true, "Secret": true, "Deployment": true, "Service": true,
		"Job": true, "PodDisruptionBudget": true, "Kustomization": true}
	byKind := map[string]map[string]k8sObject{}
	for _, o := range objs {
		if !allowed[o.Kind] {
			t.Errorf("%s: unexpected kind %s", o.file, o.Kind)
		}
		if o.APIVersion == "" || (o.Metadata.Name == "" && o.Kind != "Kustomization") {
			t.Errorf("%s: %s without apiVersion or name", o.file, o.Kind)
		}
		if o.Kind != "Namespace" && o.Kind != "Kustomization" && o.Metadata.Namespace != "shopstream" {
			t.Errorf("%s: %s/%s not in namespace shopstream", o.file, o.Kind, o.Metadata.Name)
		}
		if byKind[o.Kind] == nil {
			byKind[o.Kind] = map[string]k8sObject{}
		}
		if _, dup := byKind[o.Kind][o.Metadata.Name]; dup {
			t.Errorf("%s/%s defined twice", o.Kind, o.Metadata.Name)
		}
		byKind[o.Kind][o.Metadata.Name] = o
	}
	require := func(kind, name string) k8sObject {
		o, ok := byKind[kind][name]
		if !ok {
			t.Errorf("deploy/k8s has no %s %s", kind, name)
		}
		return o
	}
	require("Namespace", "shopstream")
	cm := require("ConfigMap", "shopstream-config")
	secret := require("Secret", "shopstream-secrets")

	// The kustomization lists every manifest but the Secret example.
	kust := require("Kustomization", "")
	listed := map[string]bool{}
	for _, r := range kust.Resources {
		listed[r] = true
		if _, err := os.Stat(path("deploy", "k8s", r)); err != nil {
			t.Errorf("kustomization.yaml: %v", err)
		}
	}
	for _, o := range objs {
		if o.Kind != "Kustomization" && o.Kind != "Secret" && !listed[o.file] {
			t.Errorf("kustomization.yaml does not list %s", o.file)
		}
		if o.Kind == "Secret" && listed[o.file] {
			t.Errorf("kustomization.yaml lists %s: re-applying would overwrite the real credentials", o.file)
		}
	}

	cmKeys := make([]string, 0, len(cm.Data))
	for k := range cm.Data {
		cmKeys = append(cmKeys, k)
	}
	sort.Strings(cmKeys)
	checkEnvNames(t, "ConfigMap shopstream-config", cmKeys, known)
	secretKeys := map[string]bool{}
	var sk []string
	for k := range secret.StringData {
		secretKeys[k] = true
		sk = append(sk, k)
	}
	for k := range secret.Data {
		secretKeys[k] = true
		sk = append(sk, k)
	}
	sort.Strings(sk)
	checkEnvNames(t, "Secret shopstream-secrets", sk, known)
	for k, v := range secret.StringData {
		if k == "EVERSHOP_WEBHOOK_SECRET" && v != "" {
			t.Errorf("secret.example.yaml must not ship a usable %s", k)
		}
	}

	// envOf returns the names a container gets, checking every reference.
	envOf := func(where string, c k8sContainer) map[string]bool {
		names := map[string]bool{}
		for _, ef := range c.EnvFrom {
			switch {
			case ef.ConfigMapRef != nil:
				if ef.ConfigMapRef.Name != cm.Metadata.Name {
					t.Errorf("%s: envFrom unknown ConfigMap %s", where, ef.ConfigMapRef.Name)
				}
				for _, k := range cmKeys {
					names[k] = true
				}
			case ef.SecretRef != nil:
				if ef.SecretRef.Name != secret.Metadata.Name {
					t.Errorf("%s: envFrom unknown Secret %s", where, ef.SecretRef.Name)
				}
				for k := range secretKeys {
					names[k] = true
				}
			}
		}
		var explicit []string
		for _, e := range c.Env {
			explicit = append(explicit, e.Name)
			names[e.Name] = true
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				ref := e.ValueFrom.SecretKeyRef
				if ref.Name != secret.Metadata.Name || !secretKeys[ref.Key] {
					t.Errorf("%s: %s refers to %s/%s, not a key of the Secret", where, e.Name, ref.Name, ref.Key)
				}
			}
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				ref := e.ValueFrom.ConfigMapKeyRef
				if _, ok := cm.Data[ref.Key]; ref.Name != cm.Metadata.Name || !ok {
					t.Errorf("%s: %s refers to %s/%s, not a key of the ConfigMap", where, e.Name, ref.Name, ref.Key)
				}
			}
		}
		checkEnvNames(t, where, explicit, known)
		return names
	}

	checkPod := func(o k8sObject, role string) k8sContainer {
		where := o.Kind + " " + o.Metadata.Name
		ps := o.Spec.Template.Spec
		if len(ps.Containers) != 1 {
			t.Fatalf("%s: want one container, got %d", where, len(ps.Containers))
		}
		c := ps.Containers[0]
		if len(c.Args) == 0 || c.Args[0] != role {
			t.Errorf("%s: args %q, want [%s]", where, c.Args, role)
		}
		if !strings.HasPrefix(c.Image, "shopstream") {
			t.Errorf("%s: image %q", where, c.Image)
		}
		if ps.SecurityContext == nil || ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: pod securityContext.runAsNonRoot must be true", where)
		} else if uid := dockerfileUID(t); ps.SecurityContext.RunAsUser != nil && *ps.SecurityContext.RunAsUser != uid {
			t.Errorf("%s: runAsUser %d, the Dockerfile's USER is %d", where, *ps.SecurityContext.RunAsUser, uid)
		}
		if sc := c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: container securityContext.allowPrivilegeEscalation must be false", where)
		}
		if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
			t.Errorf("%s: needs cpu and memory requests and a memory limit", where)
		}
		names := envOf(where, c)
		for _, req := range requiredEnv[role] {
			if !names[req] {
				t.Errorf("%s (shopstream %s): %s is not provided", where, role, req)
			}
		}
		return c
	}

	roles := map[string]k8sContainer{}
	for _, role := range []string{"serve", "process", "sink"} {
		d := require("Deployment", "shopstream-"+role)
		if d.Kind == "" {
			continue
		}
		where := "Deployment " + d.Metadata.Name
		sel := matchLabels(d.Spec.Selector)
		if !subset(sel, d.Spec.Template.Metadata.Labels) {
			t.Errorf("%s: selector %v does not match its pod labels %v", where, sel, d.Spec.Template.Metadata.Labels)
		}
		c := checkPod(d, role)
		roles[role] = c
		if portNumber(c, "admin") != adminPort {
			t.Errorf("%s: no admin container port %d", where, adminPort)
		}
		for _, pr := range []struct {
			name  string
			probe *k8sProbe
			path  string
		}{{"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}} {
			if pr.probe == nil || pr.probe.HTTPGet == nil {
				t.Errorf("%s: no %s httpGet", where, pr.name)
				continue
			}
			if pr.probe.HTTPGet.Path != pr.path || portNumber(c, pr.probe.HTTPGet.Port) != adminPort {
				t.Errorf("%s: %s %s on port %v, want %s on the admin port %d", where, pr.name, pr.probe.HTTPGet.Path, pr.probe.HTTPGet.Port, pr.path, adminPort)
			}
		}
		pdbs := 0
		for _, p := range byKind["PodDisruptionBudget"] {
			if subset(matchLabels(p.Spec.Selector), d.Spec.Template.Metadata.Labels) {
				pdbs++
				if p.Spec.MinAvailable == nil && p.Spec.MaxUnavailable == nil {
					t.Errorf("PodDisruptionBudget %s: neither minAvailable nor maxUnavailable", p.Metadata.Name)
				}
			}
		}
		if pdbs != 1 {
			t.Errorf("%s: %d PodDisruptionBudgets select it, want 1", where, pdbs)
		}
	}
	if c, ok := roles["serve"]; ok && portNumber(c, "http") != 8080 {
		t.Error("Deployment shopstream-serve: no http container port 8080")
	}

	svc := require("Service", "shopstream-serve")
	if serve, ok := byKind["Deployment"]["shopstream-serve"]; ok && svc.Kind != "" {
		if !subset(matchLabels(svc.Spec.Selector), serve.Spec.Template.Metadata.Labels) {
			t.Error("Service shopstream-serve does not select the serve pods")
		}
		for _, p := range svc.Spec.Ports {
			if portNumber(roles["serve"], p.TargetPort) != 8080 {
				t.Errorf("Service shopstream-serve: targetPort %v is not the webhook port", p.TargetPort)
			}
		}
		if len(svc.Spec.Ports) == 0 {
			t.Error("Service shopstream-serve has no ports")
		}
	}
	for _, job := range []string{"topics", "migrate"} {
		j := require("Job", "shopstream-"+job)
		if j.Kind == "" {
			continue
		}
		checkPod(j, job)
		if rp := j.Spec.Template.Spec.RestartPolicy; rp != "OnFailure" && rp != "Never" {
			t.Errorf("Job %s: restartPolicy %q", j.Metadata.Name, rp)
		}
	}
}

// ---------------------------------------------------------------- Dockerfile

type dockerStage struct {
	from, name string
	lines      []string // instructions after FROM, continuation lines joined
}

func dockerStages(t *testing.T) []dockerStage {
	t.Helper()
	var stages []dockerStage
	sc := bufio.NewScanner(bytes.NewReader(read(t, "Dockerfile")))
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		f := strings.Fields(line)
		if strings.EqualFold(f[0], "FROM") {
			st := dockerStage{}
			for _, w := range f[1:] {
				if strings.HasPrefix(w, "--") {
					continue
				}
				if st.from == "" {
					st.from = w
				}
			}
			if len(f) >= 4 && strings.EqualFold(f[len(f)-2], "AS") {
				st.name = f[len(f)-1]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			if !strings.EqualFold(f[0], "ARG") {
				t.Errorf("Dockerfile: %s before the first FROM", f[0])
			}
			return
		}
		stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, line)
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	return stages
}

func instr(lines []string, name string) []string {
	var out []string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) > 0 && strings.EqualFold(f[0], name) {
			out = append(out, strings.TrimSpace(l[len(f[0]):]))
		}
	}
	return out
}

// dockerfileUID returns the numeric UID of the final stage's USER.
func dockerfileUID(t *testing.T) int {
	t.Helper()
	st := dockerStages(t)
	users := instr(st[len(st)-1].lines, "USER")
	if len(users) == 0 {
		t.Fatal("Dockerfile: the final stage has no USER")
	}
	u, _, _ := strings.Cut(users[len(users)-1], ":")
	uid, err := strconv.Atoi(u)
	if err != nil {
		t.Fatalf("Dockerfile: USER %q: use a numeric UID so that runAsNonRoot can verify it", u)
	}
	return uid
}

func TestDockerfile(t *testing.T) {
	st := dockerStages(t)
	if len(st) < 2 {
		t.Fatalf("Dockerfile: %d stages, want a multi-stage build", len(st))
	}
	build, final := st[0], st[len(st)-1]
	if !strings.HasPrefix(build.from, "golang:1.26") || build.name == "" {
		t.Errorf("Dockerfile: build stage FROM %s AS %q, want golang:1.26 AS <name>", build.from, build.name)
	}
	built := false
	for _, r := range instr(build.lines, "RUN") {
		if strings.Contains(r, "CGO_ENABLED=0") && strings.Contains(r, "go build") &&
			strings.Contains(r, "-o /shopstream") && strings.Contains(r, "./cmd/shopstream") {
			built = true
		}
	}
	if !built {
		t.Error("Dockerfile: no `CGO_ENABLED=0 go build -o /shopstream ./cmd/shopstream` in the build stage")
	}
	copied := false
	for _, c := range instr(final.lines, "COPY") {
		if strings.Contains(c, "--from="+build.name) && strings.Contains(c, "/shopstream") {
			copied = true
		}
	}
	if !copied {
		t.Errorf("Dockerfile: the final stage does not COPY --from=%s the binary", build.name)
	}
	if uid := dockerfileUID(t); uid == 0 {
		t.Error("Dockerfile: the final stage runs as root")
	}
	expose := strings.Join(instr(final.lines, "EXPOSE"), " ")
	for _, p := range []string{"8080", "9102"} {
		if !slices.Contains(strings.Fields(expose), p) {
			t.Errorf("Dockerfile: EXPOSE %q lacks %s", expose, p)
		}
	}
	if ep := instr(final.lines, "ENTRYPOINT"); len(ep) == 0 || !strings.Contains(ep[len(ep)-1], "shopstream") {
		t.Errorf("Dockerfile: ENTRYPOINT %q, want shopstream", ep)
	}
	// The compose healthchecks run wget inside the image.
	if strings.Contains(final.from, "distroless") || final.from == "scratch" {
		for name, svc := range loadCompose(t).Services {
			if svc.shopstream() && svc.healthy() && strings.Contains(strings.Join(strs(svc.Healthcheck.Test), " "), "wget") {
				t.Errorf("compose %s's healthcheck runs wget, which %s does not have", name, final.from)
			}
		}
	}

	ignore := string(read(t, ".dockerignore"))
	for _, p := range []string{".git", "bin", "var"} {
		if !slices.Contains(strings.Fields(ignore), p) {
			t.Errorf(".dockerignore does not exclude %s", p)
		}
	}
}
