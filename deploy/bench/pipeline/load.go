package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// generator posts signed webhooks to the ingress.
type generator struct {
	st  *stack
	run string // distinguishes this run's webhook ids
	// Order ids and customers are numbered across warm-up and measurement
	// so that no two events of a run share an order.
	nextOrder atomic.Int64
}

func newGenerator(st *stack) *generator {
	g := &generator{st: st, run: strconv.FormatInt(time.Now().UnixMilli(), 36)}
	g.nextOrder.Store(100000)
	return g
}

func httpClient(conns int) *http.Client {
	tr := &http.Transport{
		MaxConnsPerHost:     conns,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// result is one webhook's fate.
type result struct {
	id        string    // the body's webhook_id, the event id
	scheduled time.Time // when open-loop pacing wanted it sent
	sent      time.Time
	ok        time.Time // the 200 arrived (zero: refused or failed)
	status    int
	err       error
}

// post puts r.id into body as its webhook_id (the event id must come from
// signed bytes), signs it and sends it; it fills r.sent, r.ok, r.status,
// r.err.
func (g *generator) post(ctx context.Context, c *http.Client, kind string, body []byte, r *result) {
	body = append(fmt.Appendf(nil, `{"webhook_id":%q,`, r.id), bytes.TrimPrefix(body, []byte("{"))...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.st.ingressURL+"/api/webhooks/evershop/"+kind, bytes.NewReader(body))
	if err != nil {
		r.err = err
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-evershop-signature", pipeline.SignEverShop(g.st.secret, body))
	r.sent = time.Now()
	resp, err := c.Do(req)
	if err != nil {
		r.err = err
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r.status = resp.StatusCode
	if resp.StatusCode == http.StatusOK {
		r.ok = time.Now()
	}
}

func (g *generator) orderBody(customers int) (orderID int64, body []byte) {
	orderID = g.nextOrder.Add(1)
	cust := orderID
	if customers > 0 {
		cust = orderID % int64(customers)
	}
	now := time.Now().UTC()
	b, _ := json.Marshal(map[string]any{
		"event":     "order.updated",
		"timestamp": now.Format(time.RFC3339Nano),
		"data": map[string]any{
			"order_id":                 orderID,
			"order_number":             strconv.FormatInt(orderID, 10),
			"customer_id":              cust,
			"customer_email":           fmt.Sprintf("customer%d@bench.example", cust),
			"customer_full_name":       fmt.Sprintf("Customer %d", cust),
			"status":                   "processing",
			"previous_status":          "new",
			"shipment_status":          "shipped",
			"previous_shipment_status": "pending",
			"payment_status":           "paid",
			"currency":                 "USD",
			"grand_total":              "49.80",
			"updated_at":               now.Format(time.RFC3339Nano),
		},
	})
	return orderID, b
}

// warmup sends n order events one after another and waits until the inbox
// stored each: the processor group has joined and every connection is warm.
func (g *generator) warmup(ctx context.Context, n int) error {
	c := httpClient(1)
	defer c.CloseIdleConnections()
	var ids []string
	for i := range n {
		_, body := g.orderBody(0)
		r := result{id: fmt.Sprintf("bench-%s-warmup-%d", g.run, i)}
		g.post(ctx, c, "order", body, &r)
		if r.ok.IsZero() {
			return fmt.Errorf("warm-up event refused: status %d, %v", r.status, r.err)
		}
		ids = append(ids, r.id)
	}
	return g.waitFor(ctx, 90*time.Second, func() (bool, string) {
		got := 0
		for _, id := range ids {
			if _, ok := g.st.inboxRec.storedAt(id); ok {
				got++
			}
		}
		return got == len(ids), fmt.Sprintf("%d of %d warm-up messages stored", got, len(ids))
	})
}

// waitFor polls cond every 20 ms until it holds, a subprocess dies, or
// timeout passes.
func (g *generator) waitFor(ctx context.Context, timeout time.Duration, cond func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, state := cond()
		if done {
			return nil
		}
		if err := g.st.alive(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s: %s", timeout, state)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// burst posts o.products product events over o.ids products as fast as
// o.burstC connections allow, then waits until the catalog sync settled.
func (g *generator) burst(ctx context.Context, o options, rep *report) error {
	type job struct {
		i    int
		body []byte
	}
	jobs := make([]job, o.products)
	seen := map[int]int{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for i := range jobs {
		pid := rng.IntN(o.ids) + 1
		if i < o.ids { // every id appears at least once
			pid = i + 1
		}
		seen[pid]++
		event := "product.updated"
		if seen[pid] == 1 {
			event = "product.created"
		}
		body, _ := json.Marshal(map[string]any{
			"event":     event,
			"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
			"data": map[string]any{
				"id":          pid,
				"sku":         fmt.Sprintf("SKU-%05d", pid),
				"name":        fmt.Sprintf("Bench product %d (rev %d)", pid, seen[pid]),
				"description": fmt.Sprintf("Revision %d of product %d, posted by the pipeline benchmark.", seen[pid], pid),
				"price":       fmt.Sprintf("%d.%02d", 5+pid%200, seen[pid]*7%100),
				"currency":    "USD",
				"qty":         10 * seen[pid],
				"url":         fmt.Sprintf("https://shop.example/products/%d", pid),
			},
		})
		jobs[i] = job{i: i, body: body}
	}
	rng.Shuffle(len(jobs), func(a, b int) { jobs[a], jobs[b] = jobs[b], jobs[a] })

	_, before := g.st.cozeRec.snapshot()
	results := make([]result, len(jobs))
	ch := make(chan job)
	c := httpClient(o.burstC)
	defer c.CloseIdleConnections()
	var wg sync.WaitGroup
	start := time.Now()
	for range o.burstC {
		wg.Go(func() {
			for j := range ch {
				r := &results[j.i]
				r.id = fmt.Sprintf("bench-%s-product-%d", g.run, j.i)
				g.post(ctx, c, "product", j.body, r)
			}
		})
	}
	for _, j := range jobs {
		select {
		case ch <- j:
		case <-ctx.Done():
		}
	}
	close(ch)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	b := &rep.burst
	b.products = len(seen)
	var lastOK time.Time
	for _, r := range results {
		if r.ok.IsZero() {
			b.refused++
			if b.firstErr == "" {
				b.firstErr = fmt.Sprintf("status %d %v", r.status, r.err)
			}
			continue
		}
		b.accepted++
		lastOK = later(lastOK, r.ok)
	}
	b.sendTime = lastOK.Sub(start)
	if b.accepted == 0 {
		return fmt.Errorf("every product event was refused (%s)", b.firstErr)
	}
	logf("burst: %d accepted in %s (%d refused); waiting for the catalog sync", b.accepted, b.sendTime.Round(time.Millisecond), b.refused)

	// Settled: at least one new upload, every accepted event covered by a
	// sync (from the process's own histogram), and Coze idle for o.idle
	// (the sync's processing polls are over and no further sync started).
	var covered float64
	err := g.waitFor(ctx, o.syncWait, func() (bool, string) {
		last, ups := g.st.cozeRec.snapshot()
		newUps := len(ups) - len(before)
		if newUps == 0 {
			return false, "no catalog upload yet"
		}
		if time.Since(last) < o.idle || time.Since(ups[len(ups)-1]) < o.idle {
			return false, fmt.Sprintf("%d uploads, Coze not idle yet", newUps)
		}
		m, err := scrapeMetrics(ctx, g.st.processAdmin)
		if err != nil {
			return false, err.Error()
		}
		covered = m.sum("shopstream_catalog_sync_events_coalesced_sum", nil)
		if covered < float64(b.accepted) {
			return false, fmt.Sprintf("%d uploads, %.0f of %d events covered", newUps, covered, b.accepted)
		}
		return true, ""
	})
	if err != nil {
		return err
	}
	_, ups := g.st.cozeRec.snapshot()
	ups = ups[len(before):]
	last, _ := g.st.cozeRec.snapshot()
	b.uploads = len(ups)
	b.toFirstUpload = ups[0].Sub(lastOK)
	b.toLastUpload = ups[len(ups)-1].Sub(lastOK)
	b.toSettled = last.Sub(lastOK)
	logf("catalog: %d upload(s), first %s after the last event was accepted", b.uploads, b.toFirstUpload.Round(time.Millisecond))
	return nil
}

// steady sends order.updated events open-loop at o.rate for o.duration:
// a pacer enqueues each event at its scheduled time whatever the workers are
// doing, so a slow ingress shows up as send lag, not as a lower offered rate.
func (g *generator) steady(ctx context.Context, o options, rep *report) error {
	n := int(o.rate * o.duration.Seconds())
	results := make([]result, n)
	bodies := make([][]byte, n)
	for i := range n {
		results[i].id = fmt.Sprintf("bench-%s-order-%d", g.run, i)
		_, bodies[i] = g.orderBody(o.customer)
	}
	interval := time.Duration(float64(time.Second) / o.rate)
	jobs := make(chan int, n)
	c := httpClient(o.workers)
	defer c.CloseIdleConnections()
	var wg sync.WaitGroup
	for range o.workers {
		wg.Go(func() {
			for i := range jobs {
				g.post(ctx, c, "order", bodies[i], &results[i])
			}
		})
	}
	pids := g.st.pids(o.brokerPID)
	before := sampleCPU(pids...)
	start := time.Now()
	tick := time.NewTicker(max(interval, time.Millisecond))
	queued := 0
pace:
	for queued < n {
		select {
		case <-ctx.Done():
			break pace
		case now := <-tick.C:
			due := min(n, int(now.Sub(start)/interval)+1)
			for ; queued < due; queued++ {
				results[queued].scheduled = start.Add(time.Duration(queued) * interval)
				jobs <- queued
			}
		}
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	s := &rep.steady
	s.cpu, s.pids = cpuBetween(before, sampleCPU(pids...)), pids
	s.offered = n
	var lastOK time.Time
	for _, r := range results {
		if r.ok.IsZero() {
			s.refused++
			if s.firstErr == "" {
				s.firstErr = fmt.Sprintf("status %d %v", r.status, r.err)
			}
			continue
		}
		s.accepted++
		lastOK = later(lastOK, r.ok)
		s.ack = append(s.ack, r.ok.Sub(r.sent))
		s.lag = append(s.lag, r.sent.Sub(r.scheduled))
	}
	s.window = lastOK.Sub(start)
	logf("load: %d of %d accepted in %s; waiting for the last notifications", s.accepted, n, s.window.Round(time.Millisecond))

	// Drain: until every accepted event's message is stored, or nothing new
	// arrived for a while (retry tiers included), or the drain timeout.
	count := func() int {
		got := 0
		for _, r := range results {
			if !r.ok.IsZero() {
				if _, ok := g.st.inboxRec.storedAt(r.id); ok {
					got++
				}
			}
		}
		return got
	}
	prev, progressed := -1, time.Now()
	err := g.waitFor(ctx, o.drain, func() (bool, string) {
		got := count()
		if got != prev {
			prev, progressed = got, time.Now()
		}
		if got == s.accepted {
			return true, ""
		}
		if time.Since(progressed) > 20*time.Second {
			return true, "" // stalled: report what arrived
		}
		return false, fmt.Sprintf("%d of %d delivered", got, s.accepted)
	})
	if err != nil && ctx.Err() != nil {
		return err
	}
	if err != nil {
		logf("drain: %v (reporting what arrived)", err)
	}
	if o.csvPath != "" {
		if err := writeCSV(o.csvPath, start, results, g.st.inboxRec); err != nil {
			logf("csv: %v", err)
		}
	}
	for _, r := range results {
		if r.ok.IsZero() {
			continue
		}
		at, ok := g.st.inboxRec.storedAt(r.id)
		if !ok {
			continue
		}
		s.delivered++
		s.latency = append(s.latency, at.Sub(r.ok))
		s.endToEnd = append(s.endToEnd, at.Sub(r.sent))
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// writeCSV writes each order event's timeline, in milliseconds from start:
// scheduled, sent, 200 OK (empty when refused) and stored (empty when not
// delivered), for plotting latency against time.
func writeCSV(path string, start time.Time, results []result, rec *inboxRecorder) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	off := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return strconv.FormatFloat(float64(t.Sub(start))/float64(time.Millisecond), 'f', 3, 64)
	}
	// bufio.Writer keeps its first error and returns it from Flush below.
	_, _ = fmt.Fprintln(w, "event_id,scheduled_ms,sent_ms,ok_ms,stored_ms,status")
	for _, r := range results {
		stored, _ := rec.storedAt(r.id)
		_, _ = fmt.Fprintf(w, "%s,%s,%s,%s,%s,%d\n", r.id, off(r.scheduled), off(r.sent), off(r.ok), off(stored), r.status)
	}
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
