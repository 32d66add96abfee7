package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

type report struct {
	opts options

	burst struct {
		products, accepted, refused int
		firstErr                    string
		sendTime                    time.Duration
		uploads                     int
		toFirstUpload, toLastUpload time.Duration
		toSettled                   time.Duration // to the last Coze request of the sync(s)
	}
	steady struct {
		offered, accepted, refused, delivered int
		firstErr                              string
		window                                time.Duration
		ack, lag, latency, endToEnd           []time.Duration
		cpu                                   cpuUse
		pids                                  []int
	}
	metrics    metrics
	inboxPosts struct{ distinct, total, repeats, failures int }
	violations []string
	exits      []string
	wall       time.Duration
}

func (r *report) scrape(ctx context.Context, st *stack) error {
	m, err := scrapeMetrics(ctx, st.processAdmin)
	if err != nil {
		return err
	}
	r.metrics = m
	r.inboxPosts.distinct, r.inboxPosts.total = st.inbox.MessagePosts()
	st.inboxRec.mu.Lock()
	r.inboxPosts.repeats, r.inboxPosts.failures = st.inboxRec.repeats, st.inboxRec.failures
	st.inboxRec.mu.Unlock()
	return nil
}

// metrics is a Prometheus text exposition: series (name plus labels) to value.
type metrics []series

type series struct {
	name   string
	labels map[string]string
	value  float64
}

func scrapeMetrics(ctx context.Context, admin string) (metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", admin, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the text format's sample lines; label values here never
// hold commas or escaped quotes, so a simple split is enough.
func parseMetrics(r io.Reader) (metrics, error) {
	var out metrics
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		head := line[:sp]
		s := series{name: head, labels: map[string]string{}, value: v}
		if i := strings.IndexByte(head, '{'); i >= 0 && strings.HasSuffix(head, "}") {
			s.name = head[:i]
			for _, kv := range strings.Split(head[i+1:len(head)-1], ",") {
				k, val, ok := strings.Cut(kv, "=")
				if ok {
					s.labels[strings.TrimSpace(k)] = strings.Trim(val, `"`)
				}
			}
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

// sum adds the series named name whose labels include match.
func (m metrics) sum(name string, match map[string]string) float64 {
	total := 0.0
	for _, s := range m {
		if s.name != name {
			continue
		}
		ok := true
		for k, v := range match {
			if s.labels[k] != v {
				ok = false
			}
		}
		if ok {
			total += s.value
		}
	}
	return total
}

func (m metrics) processed(eventType, outcome string) float64 {
	match := map[string]string{"outcome": outcome}
	if eventType != "" {
		match["event_type"] = eventType
	}
	return m.sum("shopstream_events_processed_total", match)
}

// percentile is the nearest-rank percentile of sorted d.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func (r *report) markdown() string {
	o := r.opts
	var b strings.Builder
	row := func(metric, value, goal string) { fmt.Fprintf(&b, "| %s | %s | %s |\n", metric, value, goal) }

	fmt.Fprintf(&b, "\n### shopstream pipeline benchmark (%s)\n\n", time.Now().Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, "Real Kafka at %s, `serve` and `process` as subprocesses, inbox and Coze fakes in-process; "+
		"%d CPUs (%s) shared by the load generator, both subprocesses and the broker. Catalog quiet %s, max wait %s. Wall time %s.\n\n",
		strings.Join(o.brokers, ","), runtime.NumCPU(), runtime.GOARCH, o.quiet, o.maxWait, r.wall.Round(time.Second))

	row("figure", "value", "goal")
	b.WriteString("| --- | --- | --- |\n")

	bu := r.burst
	row("**Coalescing**", fmt.Sprintf("%d product events over %d ids, %d connections", o.products, bu.products, o.burstC), "")
	row("product events accepted (refused)", fmt.Sprintf("%d (%d)", bu.accepted, bu.refused), "")
	row("burst ingest time (first sent → last 200)", fmt.Sprintf("%s (%.0f events/s)", secs(bu.sendTime), float64(bu.accepted)/bu.sendTime.Seconds()), "")
	row("catalog syncs uploaded to Coze", strconv.Itoa(bu.uploads), "≤ 2 — "+verdict(bu.uploads >= 1 && bu.uploads <= 2))
	if bu.uploads > 0 {
		row("product events per catalog sync", fmt.Sprintf("%.0f", float64(bu.accepted)/float64(bu.uploads)), "")
	}
	row("last event accepted → document uploaded", secs(bu.toFirstUpload), fmt.Sprintf("≈ quiet (%s) + regeneration", o.quiet))
	if bu.uploads > 1 {
		row("last event accepted → last upload", secs(bu.toLastUpload), "")
	}
	row("last event accepted → sync finished (Coze processing polled done)", secs(bu.toSettled), "")

	s := r.steady
	slices.Sort(s.latency)
	slices.Sort(s.ack)
	slices.Sort(s.lag)
	slices.Sort(s.endToEnd)
	row("**Notification latency**", fmt.Sprintf("order.updated, %.0f/s for %s, %d workers, %s", o.rate, o.duration, o.workers, customersText(o.customer)), "")
	row("events sent / accepted (refused)", fmt.Sprintf("%d / %d (%d)", s.offered, s.accepted, s.refused), "")
	if s.firstErr != "" {
		row("first refusal", strings.ReplaceAll(s.firstErr, "|", "/"), "")
	}
	rate := 0.0
	if s.window > 0 {
		rate = float64(s.accepted) / s.window.Seconds()
	}
	row("achieved send rate (accepted / (start → last 200))", fmt.Sprintf("%.0f events/s", rate), fmt.Sprintf("%.0f/s", o.rate))
	row("send lag behind schedule p99 / max", fmt.Sprintf("%s / %s", ms(percentile(s.lag, 99)), ms(percentile(s.lag, 100))), "")
	row("ingress 200 OK round trip p50 / p99 / max", fmt.Sprintf("%s / %s / %s", ms(percentile(s.ack, 50)), ms(percentile(s.ack, 99)), ms(percentile(s.ack, 100))), "")
	row("delivered / accepted", fmt.Sprintf("%d / %d", s.delivered, s.accepted), verdict(s.delivered == s.accepted && s.accepted > 0))
	row("200 OK → inbox stored p50", ms(percentile(s.latency, 50)), "")
	row("200 OK → inbox stored p90", ms(percentile(s.latency, 90)), "")
	row("200 OK → inbox stored p99", ms(percentile(s.latency, 99)), "< 50 ms — "+verdict(len(s.latency) > 0 && percentile(s.latency, 99) < 50*time.Millisecond))
	row("200 OK → inbox stored max", ms(percentile(s.latency, 100)), "")
	neg := 0
	for _, d := range s.latency {
		if d < 0 {
			neg++
		}
	}
	row("200 OK → inbox stored min; stored before the sender read its 200", fmt.Sprintf("%s; %d events", ms(percentile(s.latency, 0)), neg), "")
	row("request sent → inbox stored p50 / p99", fmt.Sprintf("%s / %s", ms(percentile(s.endToEnd, 50)), ms(percentile(s.endToEnd, 99))), "")
	if c := s.cpu; c.available {
		parts := []string{}
		ours := 0.0
		for i, name := range []string{"benchmark", "serve", "process", "broker"} {
			if i < len(s.pids) {
				if t, ok := c.procs[s.pids[i]]; ok {
					parts = append(parts, name+" "+c.share(t))
					ours += t
				}
			}
		}
		rest := "other (kernel, other users of the machine)"
		if len(s.pids) < 4 || c.procs[s.pids[3]] == 0 {
			rest = "broker + other (kernel, other users of the machine)"
		}
		parts = append(parts, rest+" "+c.share(max(c.machine-ours, 0)))
		row(fmt.Sprintf("CPU during the load (%% of one core; %d cores = %d%%)", c.cores, 100*c.cores),
			fmt.Sprintf("machine %s: %s; load avg %s → %s", c.share(c.machine), strings.Join(parts, ", "), c.loadavg[0], c.loadavg[1]), "")
	}
	row("inbox message posts: stored / total (repeats, non-2xx)", fmt.Sprintf("%d / %d (%d, %d)",
		r.inboxPosts.distinct, r.inboxPosts.total, r.inboxPosts.repeats, r.inboxPosts.failures), "")

	m := r.metrics
	row("**Process /metrics**", "", "")
	cs, cc := m.sum("shopstream_catalog_sync_events_coalesced_sum", nil), m.sum("shopstream_catalog_sync_events_coalesced_count", nil)
	avg := ""
	if cc > 0 {
		avg = fmt.Sprintf(" (%.0f per sync)", cs/cc)
	}
	row("`shopstream_catalog_sync_events_coalesced` sum / count", fmt.Sprintf("%.0f / %.0f%s", cs, cc, avg), "")
	row("`shopstream_catalog_syncs_total` uploaded / unchanged / failed", fmt.Sprintf("%.0f / %.0f / %.0f",
		m.sum("shopstream_catalog_syncs_total", map[string]string{"result": "uploaded"}),
		m.sum("shopstream_catalog_syncs_total", map[string]string{"result": "unchanged"}),
		m.sum("shopstream_catalog_syncs_total", map[string]string{"result": "failed"})), "")
	row("`shopstream_events_processed_total{outcome=\"completed\"}` all types", fmt.Sprintf("%.0f", m.processed("", "completed")), "")
	row("… `order.updated` completed", fmt.Sprintf("%.0f", m.processed("order.updated", "completed")),
		fmt.Sprintf("%d (warm-up %d + load %d)", o.warmup+s.accepted, o.warmup, s.accepted))
	products := m.processed("product.created", "completed") + m.processed("product.updated", "completed")
	note := ""
	if products == 0 && bu.accepted > 0 {
		note = "not counted here: the catalog sync writes product outcomes to evershop.events only"
	}
	row("… `product.created` + `product.updated` completed", fmt.Sprintf("%.0f", products), note)
	var other []string
	for _, oc := range []string{"retrying", "dead", "duplicate", "superseded", "skipped"} {
		if v := m.processed("", oc); v > 0 {
			other = append(other, fmt.Sprintf("%s %.0f", oc, v))
		}
	}
	if len(other) == 0 {
		other = []string{"none"}
	}
	row("other outcomes (retrying, dead, duplicate, superseded, skipped)", strings.Join(other, ", "), "none")
	if len(r.violations) > 0 {
		row("fake contract violations", fmt.Sprintf("%d, first: %s", len(r.violations), strings.ReplaceAll(r.violations[0], "|", "/")), "0")
	}
	for _, e := range r.exits {
		row("subprocess exited early", strings.ReplaceAll(strings.SplitN(e, "\n", 2)[0], "|", "/"), "")
	}
	return b.String()
}

func customersText(n int) string {
	if n == 0 {
		return "one new customer per order"
	}
	return fmt.Sprintf("%d customers", n)
}
