package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shopstream/shopstream/connectors/clickhouse"
)

// lagRow is one group's lag on one topic.
type lagRow struct {
	Group, Topic string
	Lag          int64
}

// heldRow is what one process's metrics say about held events.
type heldRow struct {
	Source    string
	Held      float64
	OldestAge float64 // seconds
}

// minuteRow is one minute of the accepted-per-minute chart.
type minuteRow struct {
	Minute time.Time
	Counts []uint64 // per endpoint, in Endpoints order
	Total  uint64
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	data := map[string]any{}
	ov, err := s.deps.Events.LoadOverview(ctx, s.cfg.Now())
	if err != nil {
		data["OverviewError"] = err.Error()
	}
	data["O"] = ov
	data["Endpoints"], data["Minutes"], data["MaxMinute"] = perMinute(ov.PerMinute)
	var maxStatus uint64
	for _, c := range ov.ByStatus {
		maxStatus = max(maxStatus, c.Count)
	}
	data["MaxStatus"] = maxStatus
	if s.deps.Lag != nil {
		lags, err := s.deps.Lag.Measure(ctx)
		if err != nil {
			data["LagError"] = err.Error()
		}
		data["Lag"] = lagRows(lags)
	}
	if s.deps.Metrics != nil {
		held, err := heldFrom(s.deps.Metrics)
		if err != nil {
			data["HeldError"] = err.Error()
		}
		data["Held"] = held
	}
	s.render(w, r, "overview", data)
}

// perMinute pivots the per-minute counts into rows with one column per
// endpoint, newest minute first.
func perMinute(in []clickhouse.MinuteCount) ([]string, []minuteRow, uint64) {
	seen := map[string]bool{}
	var endpoints []string
	byMinute := map[time.Time]map[string]uint64{}
	for _, m := range in {
		if !seen[m.Endpoint] {
			seen[m.Endpoint] = true
			endpoints = append(endpoints, m.Endpoint)
		}
		if byMinute[m.Minute] == nil {
			byMinute[m.Minute] = map[string]uint64{}
		}
		byMinute[m.Minute][m.Endpoint] += m.Count
	}
	sort.Strings(endpoints)
	var rows []minuteRow
	var top uint64
	for minute, counts := range byMinute {
		row := minuteRow{Minute: minute}
		for _, e := range endpoints {
			row.Counts = append(row.Counts, counts[e])
			row.Total += counts[e]
		}
		top = max(top, row.Total)
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Minute.After(rows[j].Minute) })
	return endpoints, rows, top
}

func lagRows(lags map[string]map[string]int64) []lagRow {
	var out []lagRow
	for g, topics := range lags {
		for t, n := range topics {
			out = append(out, lagRow{Group: g, Topic: t, Lag: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Topic < out[j].Topic
	})
	return out
}

// heldFrom reads shopstream_held_events and shopstream_held_oldest_age_seconds
// (a processor holds events while a downstream's breaker is open).
func heldFrom(g prometheus.Gatherer) ([]heldRow, error) {
	mfs, err := g.Gather()
	if err != nil && len(mfs) == 0 {
		return nil, err
	}
	bySource := map[string]*heldRow{}
	row := func(src string) *heldRow {
		if bySource[src] == nil {
			bySource[src] = &heldRow{Source: src}
		}
		return bySource[src]
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			src := labelValue(m, "instance")
			switch mf.GetName() {
			case "shopstream_held_events":
				row(src).Held += m.GetGauge().GetValue()
			case "shopstream_held_oldest_age_seconds":
				h := row(src)
				h.OldestAge = max(h.OldestAge, m.GetGauge().GetValue())
			}
		}
	}
	out := make([]heldRow, 0, len(bySource))
	for _, h := range bySource {
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out, err
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return "this process"
}

// ScrapeMetrics is a prometheus.Gatherer over the /metrics of running
// processes (the console of a deployment reads its processors' admin
// listeners); every series gets an instance label with the URL it came from.
type ScrapeMetrics struct {
	URLs   []string
	Client *http.Client
}

// Gather scrapes every URL; it returns what it could read and the first error.
func (sm ScrapeMetrics) Gather() ([]*dto.MetricFamily, error) {
	cl := sm.Client
	if cl == nil {
		cl = &http.Client{Timeout: 3 * time.Second}
	}
	var out []*dto.MetricFamily
	var firstErr error
	for _, u := range sm.URLs {
		mfs, err := scrape(cl, u)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		out = append(out, mfs...)
	}
	return out, firstErr
}

func scrape(cl *http.Client, u string) ([]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", u, err)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics %s: %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", u, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", u, err)
	}
	var out []*dto.MetricFamily
	name, value := "instance", u
	for _, mf := range fams {
		for _, m := range mf.Metric {
			m.Label = append(m.Label, &dto.LabelPair{Name: &name, Value: &value})
		}
		out = append(out, mf)
	}
	return out, nil
}
