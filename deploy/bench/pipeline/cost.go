package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	stdmaps "maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/deploy/bench/ceiling"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// The cost benchmark (-cost, `make bench`): what one event costs in CPU time,
// measured from /proc (user+system of every process involved) over a fixed
// load rather than by wall time, because the machine is shared and wall time
// is what other users take away first. Each phase runs its own processes:
//
//   - ingress: N signed order.updated webhooks, closed loop over -conns
//     keep-alive connections, into 1 and 2 `serve` (production defaults: log
//     level info); CPU of serve + broker per accepted webhook;
//   - ceiling: the same ingress handler with a publisher that does nothing
//     (this binary, -serve-noop, in a process of its own);
//   - raw producer: connectors/kafka.Producer (franz-go, the same settings)
//     alone, the same records, the same concurrency, no HTTP;
//   - processor: a backlog of M order events, drained by 1, 2 and 3
//     `process` (inbox fake in this process, answering at once); CPU of the
//     processes + broker per event;
//   - sink: every outcome the processor phases wrote, into ClickHouse by one
//     `sink`; CPU of sink + ClickHouse per row.

// costRow is one line of the table.
type costRow struct {
	setup       string
	events      int           // accepted / processed / written
	wall        time.Duration // first to last
	cpu         map[string]float64
	order       []string // keys of cpu, in print order
	limitOf     string   // the figure this one is compared with
	note        string
	errors      int
	measuredCPU []string // the keys that make the per-event figure
}

func (r costRow) rate() float64 {
	if r.wall <= 0 {
		return 0
	}
	return float64(r.events) / r.wall.Seconds()
}

// perEvent is CPU µs per event of the keys in measuredCPU.
func (r costRow) perEvent() float64 {
	if r.events == 0 {
		return 0
	}
	t := 0.0
	for _, k := range r.measuredCPU {
		t += r.cpu[k]
	}
	return t / float64(r.events) * 1e6
}

type costRun struct {
	o    options
	st   *stack
	env  map[string]string
	rows []costRow
	seq  atomic.Int64 // order ids, distinct over the whole run
	// admins are the admin base URLs of the processes started, by name.
	admins map[string]string
}

func runCost(ctx context.Context, o options) error {
	started := time.Now()
	if o.logDir == "" {
		var err error
		if o.logDir, err = os.MkdirTemp("", "shopstream-cost-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(o.logDir, 0o755); err != nil {
		return err
	}
	logf("logs in %s", o.logDir)
	logf("resetting Kafka state on %v", o.brokers)
	if err := resetKafka(ctx, o.brokers); err != nil {
		return fmt.Errorf("reset kafka: %w", err)
	}
	o.reset = true
	st, env, err := newFakes(ctx, o)
	defer st.stop(ctx)
	if err != nil {
		return err
	}
	// Production defaults: the level and format of a deployment.
	delete(env, "SHOPSTREAM_LOG_LEVEL")
	c := &costRun{o: o, st: st, env: env, admins: map[string]string{}}
	c.seq.Store(1_000_000)
	if o.costBrokerWarmup > 0 {
		// The broker's JIT compiles its produce path during the first tens
		// of thousands of records; the first phase must not pay for it.
		logf("cost: broker warm-up, %d records", o.costBrokerWarmup)
		prod, err := c.newProducer()
		if err != nil {
			return err
		}
		_, _, err = c.produce(ctx, prod, events(c.orderBodies(o.costBrokerWarmup)))
		_ = prod.Close(ctx)
		if err != nil {
			return fmt.Errorf("broker warm-up: %w", err)
		}
	}

	for _, step := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"ingress 1 serve", func(ctx context.Context) error { return c.ingress(ctx, 1) }},
		{"ceiling", c.ceiling},
		{"raw producer", c.rawProducer},
		{"ingress 2 serve", func(ctx context.Context) error { return c.ingress(ctx, 2) }},
		{"processor 1", func(ctx context.Context) error { return c.processor(ctx, 1) }},
		{"processor 2", func(ctx context.Context) error { return c.processor(ctx, 2) }},
		{"processor 3", func(ctx context.Context) error { return c.processor(ctx, 3) }},
		{"sink", c.sink},
	} {
		if c.o.costOnly != "" && !slices.Contains(strings.Split(c.o.costOnly, ","), strings.Fields(step.name)[0]) {
			continue
		}
		logf("cost: %s", step.name)
		if err := step.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
	}
	fmt.Print(c.markdown(time.Since(started)))
	return nil
}

// orderWebhook is a signed order.updated body with a distinct order id.
type signedBody struct {
	body []byte
	sig  string
}

func (c *costRun) orderBodies(n int) []signedBody {
	out := make([]signedBody, n)
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	for i := range out {
		id := c.seq.Add(1)
		cust := id % 1000
		b := fmt.Appendf(nil, `{"event":"order.updated","timestamp":%q,"data":{"order_id":%d,"uuid":"0e6c2a8e-5d0b-4d77-a1c9-%012d","order_number":"%d","customer_id":%d,"customer_email":"customer%d@bench.example","customer_full_name":"Customer %d","status":"processing","previous_status":"new","payment_status":"paid","shipment_status":"shipped","previous_shipment_status":"pending","currency":"USD","grand_total":"49.80","updated_at":%q}}`,
			ts, id, id, id, cust, cust, cust, ts)
		out[i] = signedBody{body: b, sig: pipeline.SignEverShop(c.st.secret, b)}
	}
	return out
}

// closedLoop sends bodies over conns keep-alive connections, one request in
// flight on each, spread round-robin over urls; it returns the accepted
// count, the errors and the time from the first send to the last answer.
func closedLoop(ctx context.Context, urls []string, conns int, bodies []signedBody) (ok, failed int, wall time.Duration, firstErr string) {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var next, nOK, nErr atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conns {
		url := urls[w%len(urls)] + "/api/webhooks/evershop/order"
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(bodies) {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(bodies[i].body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(pipeline.HeaderEverShopSignature, bodies[i].sig)
				resp, err := client.Do(req)
				status := 0
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				if err == nil && status == http.StatusOK {
					nOK.Add(1)
					continue
				}
				nErr.Add(1)
				mu.Lock()
				if firstErr == "" {
					firstErr = fmt.Sprintf("status %d %v", status, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return int(nOK.Load()), int(nErr.Load()), time.Since(start), firstErr
}

// spawnReady starts `shopstream sub` with env and waits for its /readyz.
func (c *costRun) spawnReady(ctx context.Context, sub, name string, env map[string]string) (*proc, string, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, "", err
	}
	admin := fmt.Sprintf("127.0.0.1:%d", ports[0])
	p, err := c.st.spawn(c.o.bin, sub, environ(env, "SHOPSTREAM_ADMIN_ADDR", admin), filepath.Join(c.o.logDir, name+".log"))
	if err != nil {
		return nil, "", err
	}
	wctx, cancel := context.WithTimeout(ctx, c.o.startup)
	defer cancel()
	if err := waitReady(wctx, "http://"+admin+"/readyz", p); err != nil {
		p.stop(c.st.grace)
		return nil, "", err
	}
	c.admins[name] = "http://" + admin
	return p, "http://" + admin, nil
}

// profile fetches a CPU profile of every running shopstream process whose
// binary serves /debug/pprof (-cost-profile: a build with the profiler
// mounted on the admin listener) for secs seconds, in the background.
func (c *costRun) profile(phase string, names []string, secs int) func() {
	if c.o.costProfile == "" {
		return func() {}
	}
	var wg sync.WaitGroup
	for _, name := range names {
		admin, ok := c.admins[name]
		if !ok {
			continue
		}
		wg.Go(func() {
			resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", admin, secs))
			if err != nil {
				logf("profile %s: %v", name, err)
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(filepath.Join(c.o.costProfile, phase+"-"+name+".pprof"))
			if err != nil {
				logf("profile %s: %v", name, err)
				return
			}
			_, _ = io.Copy(f, resp.Body)
			_ = f.Close()
		})
	}
	return wg.Wait
}

func stopAll(ps []*proc, grace time.Duration) {
	for _, p := range ps {
		p.stop(grace)
	}
}

func pidOf(p *proc) int { return p.cmd.Process.Pid }

// measure samples the CPU of the named pids around f.
func measure(pids map[string]int, f func()) map[string]float64 {
	list := make([]int, 0, len(pids))
	for _, p := range pids {
		list = append(list, p)
	}
	a := sampleCPU(list...)
	f()
	u := cpuBetween(a, sampleCPU(list...))
	out := map[string]float64{"machine": u.machine, "wall": u.wall.Seconds()}
	for name, pid := range pids {
		out[name] = u.procs[pid]
	}
	return out
}

func (c *costRun) basePIDs() map[string]int {
	m := map[string]int{"loadgen": os.Getpid()}
	if c.o.brokerPID > 0 {
		m["broker"] = c.o.brokerPID
	}
	return m
}

func (c *costRun) ingress(ctx context.Context, n int) error {
	var ps []*proc
	defer func() { stopAll(ps, c.st.grace) }()
	var urls []string
	pids := c.basePIDs()
	measured := []string{"broker"}
	for i := range n {
		ports, err := freePorts(1)
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
		env := maps(c.env, "SHOPSTREAM_HTTP_ADDR", addr)
		name := fmt.Sprintf("serve%d", i+1)
		p, _, err := c.spawnReady(ctx, "serve", name, env)
		if err != nil {
			return err
		}
		ps = append(ps, p)
		urls = append(urls, "http://"+addr)
		pids[name] = pidOf(p)
		measured = append(measured, name)
	}
	if ok, failed, _, first := closedLoop(ctx, urls, c.o.costConns, c.orderBodies(c.o.costWarmup)); failed > 0 || ok == 0 {
		return fmt.Errorf("warm-up: %d accepted, %d failed (%s)", ok, failed, first)
	}
	bodies := c.orderBodies(c.o.costRequests)
	var ok, failed int
	var wall time.Duration
	var first string
	wait := c.profile(fmt.Sprintf("ingress%d", n), measured, 4)
	cpu := measure(pids, func() { ok, failed, wall, first = closedLoop(ctx, urls, c.o.costConns, bodies) })
	wait()
	row := costRow{setup: fmt.Sprintf("ingress: %d × `serve` → Kafka (acks=all), production defaults", n),
		events: ok, wall: wall, cpu: cpu, errors: failed, measuredCPU: measured, limitOf: "ceiling"}
	if failed > 0 {
		row.note = "first error: " + first
	}
	c.rows = append(c.rows, row)
	return ctx.Err()
}

func maps(base map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// ceiling runs this binary with -serve-noop in a process of its own.
func (c *costRun) ceiling(ctx context.Context) error {
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	self, err := os.Executable()
	if err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(c.o.logDir, "ceiling.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-serve-noop", addr)
	cmd.Env = environ(c.env)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return err
	}
	p := &proc{name: "ceiling", cmd: cmd, log: f.Name(), done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); _ = f.Close(); close(p.done) }()
	defer p.stop(c.st.grace)
	// Any HTTP answer means it listens: GET / is the router's 404.
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if err := p.exited(); err != nil || i > 300 {
			return fmt.Errorf("ceiling server not listening: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	urls := []string{"http://" + addr}
	if ok, failed, _, first := closedLoop(ctx, urls, c.o.costConns, c.orderBodies(c.o.costWarmup)); failed > 0 || ok == 0 {
		return fmt.Errorf("warm-up: %d accepted, %d failed (%s)", ok, failed, first)
	}
	bodies := c.orderBodies(c.o.costRequests)
	pids := c.basePIDs()
	delete(pids, "broker")
	pids["ceiling"] = pidOf(p)
	var ok, failed int
	var wall time.Duration
	cpu := measure(pids, func() { ok, failed, wall, _ = closedLoop(ctx, urls, c.o.costConns, bodies) })
	c.rows = append(c.rows, costRow{setup: "ceiling: the same handler, HMAC and JSON, no-op publisher (no broker)",
		events: ok, wall: wall, cpu: cpu, errors: failed, measuredCPU: []string{"ceiling"}})
	return ctx.Err()
}

// events turns bodies into the events the ingress would publish.
func events(bodies []signedBody) []pipeline.Event {
	out := make([]pipeline.Event, len(bodies))
	now := time.Now()
	for i, b := range bodies {
		env, err := pipeline.ParseEnvelope(pipeline.KindOrder, b.body)
		if err != nil {
			panic(err) // our own bodies
		}
		id, _ := pipeline.EventID(pipeline.SchemeEverShop, http.Header{}, env, b.body)
		out[i] = pipeline.Event{ID: id, Type: env.Event, Kind: pipeline.KindOrder, EntityID: env.EntityID,
			Timestamp: env.Timestamp, ReceivedAt: now, Body: b.body, Data: env.Data}
	}
	return out
}

// produce publishes evs to the order topic from conns goroutines, each
// waiting for its acknowledgement as the ingress does.
func (c *costRun) produce(ctx context.Context, prod *kafka.Producer, evs []pipeline.Event) (int, time.Duration, error) {
	var next, done atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range c.o.costConns {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(evs) {
					return
				}
				if _, err := prod.Publish(ctx, schemas.TopicOrder, evs[i], pipeline.SchemeEverShop); err != nil {
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return int(done.Load()), time.Since(start), err
	}
	return int(done.Load()), time.Since(start), ctx.Err()
}

func (c *costRun) newProducer() (*kafka.Producer, error) {
	kc := kafka.DefaultConfig()
	kc.Brokers = c.o.brokers
	kc.ClientIDPrefix = "bench"
	return kafka.NewProducer(kc, "raw", slog.New(slog.DiscardHandler), nil)
}

func (c *costRun) rawProducer(ctx context.Context) error {
	prod, err := c.newProducer()
	if err != nil {
		return err
	}
	defer func() { _ = prod.Close(context.WithoutCancel(ctx)) }()
	if _, _, err := c.produce(ctx, prod, events(c.orderBodies(c.o.costWarmup))); err != nil {
		return err
	}
	evs := events(c.orderBodies(c.o.costRequests))
	var n int
	var wall time.Duration
	pids := c.basePIDs()
	pids["producer"] = pids["loadgen"]
	delete(pids, "loadgen")
	cpu := measure(pids, func() { n, wall, err = c.produce(ctx, prod, evs) })
	if err != nil {
		return err
	}
	c.rows = append(c.rows, costRow{setup: "raw producer: franz-go alone (connectors/kafka.Producer), same records and concurrency, no HTTP",
		events: n, wall: wall, cpu: cpu, measuredCPU: []string{"producer", "broker"}})
	return nil
}

// skipBacklog commits the end offsets of topics for groups, so that the
// next phase starts from an empty backlog. The groups have no members then.
func (c *costRun) skipBacklog(ctx context.Context, groups []string, topics ...string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.o.brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return err
	}
	offs := kadm.Offsets{}
	ends.Each(func(o kadm.ListedOffset) {
		offs.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.Offset, LeaderEpoch: -1})
	})
	for _, g := range groups {
		if err := adm.CommitAllOffsets(ctx, g, offs); err != nil {
			return fmt.Errorf("commit %s: %w", g, err)
		}
	}
	return nil
}

// processor drains a backlog with n `process` instances. They start first
// and join their group on empty topics (a member joining mid-drain would
// stop the group for a rebalance, which is start-up, not cost per event);
// then the backlog is written and the measurement runs from the first
// record written to the last event processed. The broker's CPU in that
// window includes writing the backlog, which is not the processor's: the
// broker's µs/record of the raw producer row (same records, same
// concurrency, same run) times the backlog is subtracted from it.
func (c *costRun) processor(ctx context.Context, n int) error {
	if err := c.skipBacklog(ctx, []string{schemas.GroupProcessor, schemas.GroupCatalog}, schemas.SourceTopics...); err != nil {
		return err
	}
	pids := c.basePIDs()
	delete(pids, "loadgen")
	pids["bench (inbox fake, backlog writer)"] = os.Getpid()
	measured := []string{"broker"}
	var ps []*proc
	defer func() { stopAll(ps, c.st.grace) }()
	var admins []string
	for i := range n {
		name := fmt.Sprintf("process%d", i+1)
		p, admin, err := c.spawnReady(ctx, "process", name, c.env)
		if err != nil {
			return err
		}
		ps = append(ps, p)
		admins = append(admins, admin)
		pids[name] = pidOf(p)
		measured = append(measured, name)
	}
	if err := c.waitGroup(ctx, schemas.GroupProcessor, n); err != nil {
		return err
	}
	prod, err := c.newProducer()
	if err != nil {
		return err
	}
	defer func() { _ = prod.Close(context.WithoutCancel(ctx)) }()
	evs := events(c.orderBodies(c.o.costOrders))
	var processed float64
	var fillErr error
	wait := c.profile(fmt.Sprintf("processor%d", n), measured, 4)
	defer wait()
	cpu := measure(pids, func() {
		if _, _, fillErr = c.produce(ctx, prod, evs); fillErr != nil {
			return
		}
		deadline := time.Now().Add(c.o.drain + time.Duration(c.o.costOrders)*time.Millisecond)
		for {
			processed = 0
			for _, admin := range admins {
				m, err := scrapeMetrics(ctx, admin)
				if err != nil {
					fillErr = err
					return
				}
				processed += m.processed("", "completed") + m.processed("", "skipped") + m.processed("", "duplicate") + m.processed("", "dead")
			}
			if processed >= float64(len(evs)) {
				return
			}
			if err := c.st.alive(); err != nil {
				fillErr = err
				return
			}
			if time.Now().After(deadline) {
				fillErr = fmt.Errorf("%0.f of %d events processed by the deadline", processed, len(evs))
				return
			}
			select {
			case <-ctx.Done():
				fillErr = ctx.Err()
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	if fillErr != nil {
		return fillErr
	}
	wall := time.Duration(cpu["wall"] * float64(time.Second))
	note := "from the first backlog record written to the last event processed"
	if raw := c.rowBy("raw producer"); raw != nil && raw.events > 0 {
		fill := raw.cpu["broker"] / float64(raw.events) * float64(len(evs))
		cpu["broker"] = max(cpu["broker"]-fill, 0)
		note += fmt.Sprintf("; broker CPU net of writing the backlog (%.0f µs/record, raw producer row)", raw.cpu["broker"]/float64(raw.events)*1e6)
	}
	c.rows = append(c.rows, costRow{setup: fmt.Sprintf("processor: %d × `process`, order.updated, inbox fake answering at once", n),
		events: int(processed), wall: wall, cpu: cpu, measuredCPU: measured, note: note})
	return nil
}

func (c *costRun) rowBy(prefix string) *costRow {
	for i := range c.rows {
		if strings.HasPrefix(c.rows[i].setup, prefix) {
			return &c.rows[i]
		}
	}
	return nil
}

// waitGroup waits until group is stable with n members that all hold
// partitions.
func (c *costRun) waitGroup(ctx context.Context, group string, n int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.o.brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(c.o.startup)
	for {
		gs, err := adm.DescribeGroups(ctx, group)
		state := fmt.Sprint(err)
		if err == nil {
			g := gs[group]
			state = fmt.Sprintf("%s with %d members", g.State, len(g.Members))
			if g.State == "Stable" && len(g.Members) == n {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("group %s not stable with %d members: %s", group, n, state)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *costRun) sink(ctx context.Context) error {
	if c.o.clickhouse == "" {
		logf("cost: no -clickhouse DSN, sink phase skipped")
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.o.brokers...))
	if err != nil {
		return err
	}
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, schemas.TopicEvents)
	cl.Close()
	if err != nil {
		return err
	}
	total := int64(0)
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	pids := c.basePIDs()
	delete(pids, "loadgen")
	if c.o.clickhousePID > 0 {
		pids["clickhouse"] = c.o.clickhousePID
	}
	list := []int{c.o.brokerPID, c.o.clickhousePID}
	a := sampleCPU(list...)
	p, admin, err := c.spawnReady(ctx, "sink", "sink", maps(c.env, "CLICKHOUSE_DSN", c.o.clickhouse))
	if err != nil {
		return err
	}
	defer p.stop(c.st.grace)
	pids["sink"] = pidOf(p)
	list = append(list, pidOf(p))
	a.procs[pidOf(p)] = 0
	first, last := time.Now(), time.Time{}
	var written float64
	deadline := time.Now().Add(c.o.drain + time.Duration(total/100)*time.Millisecond)
	for {
		m, err := scrapeMetrics(ctx, admin)
		if err != nil {
			return err
		}
		written = m.sum("shopstream_analytics_rows_written_total", nil) + m.sum("shopstream_analytics_rows_invalid_total", nil) +
			m.sum(schemas.MetricSinkQuarantined, nil)
		now := time.Now()
		if written >= float64(total) {
			last = now
			break
		}
		if err := p.exited(); err != nil {
			return err
		}
		if now.After(deadline) {
			return fmt.Errorf("%0.f of %d outcome rows written by the deadline", written, total)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	u := cpuBetween(a, sampleCPU(list...))
	cpu := map[string]float64{"machine": u.machine}
	for name, pid := range pids {
		cpu[name] = u.procs[pid]
	}
	c.rows = append(c.rows, costRow{setup: "sink: 1 × `sink`, every outcome above → ClickHouse",
		events: int(written), wall: last.Sub(first), cpu: cpu, measuredCPU: []string{"sink", "clickhouse", "broker"},
		note: "from ready to the last row written; CPU includes start-up and the schema check"})
	return nil
}

func (c *costRun) markdown(wall time.Duration) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\n### shopstream cost per event (%s)\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "CPU is user+system time from /proc of the processes named, over the measured load only; "+
		"µs/event is the sum of the measured processes divided by the events. %d-request ingress loads over %d connections, "+
		"backlogs of %d order events. Wall time %s.\n\n", c.o.costRequests, c.o.costConns, c.o.costOrders, wall.Round(time.Second))
	if jit := brokerJIT(c.o.brokerPID); jit != "" {
		fmt.Fprintf(&b, "Broker: %s.\n\n", jit)
	}
	b.WriteString("| setup | events | events/s | CPU µs/event (measured) | CPU breakdown, µs/event | machine busy |\n")
	b.WriteString("| --- | ---: | ---: | ---: | --- | ---: |\n")
	ceiling := 0.0
	for _, r := range c.rows {
		if r.cpu["ceiling"] > 0 {
			ceiling = r.rate()
		}
	}
	for _, r := range c.rows {
		var parts []string
		for _, k := range sortedKeys(r.cpu) {
			if k == "machine" || k == "wall" || r.events == 0 {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %.0f", k, r.cpu[k]/float64(r.events)*1e6))
		}
		rate := fmt.Sprintf("%.0f", r.rate())
		if r.limitOf == "ceiling" && ceiling > 0 {
			rate += fmt.Sprintf(" (%.0f %% of ceiling)", 100*r.rate()/ceiling)
		}
		setup := r.setup
		if r.errors > 0 {
			setup += fmt.Sprintf(" — %d errors", r.errors)
		}
		if r.note != "" {
			setup += " (" + r.note + ")"
		}
		busy := "?"
		if r.wall > 0 {
			busy = fmt.Sprintf("%.0f %%", 100*r.cpu["machine"]/r.wall.Seconds())
		}
		fmt.Fprintf(&b, "| %s | %d | %s | **%.0f** | %s | %s |\n", setup, r.events, rate, r.perEvent(), strings.Join(parts, ", "), busy)
	}
	fmt.Fprintf(&b, "\nmachine busy: all CPUs (%d cores = %d %%), the benchmark and other users of the machine included.\n", c.st.cores(), 100*c.st.cores())
	return b.String()
}

func (st *stack) cores() int { return sampleCPU().cores }

func sortedKeys(m map[string]float64) []string {
	keys := slices.Collect(stdmaps.Keys(m))
	slices.Sort(keys)
	return keys
}

// serveNoop is the ceiling (deploy/bench/ceiling).
func serveNoop(ctx context.Context, addr string) error {
	secrets, err := pipeline.ParseSecrets(os.Getenv("EVERSHOP_WEBHOOK_SECRET"))
	if err != nil {
		return err
	}
	return ceiling.Serve(ctx, addr, secrets, "bench-ceiling")
}

// brokerJIT says how the local broker's JVM compiles, from its command line.
func brokerJIT(pid int) string {
	if pid <= 0 {
		return ""
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	if bytes.Contains(b, []byte("-XX:TieredStopAtLevel=1")) {
		return "Kafka JVM with C1 only (deploy/local's KAFKA_JIT=c1: fast start, about twice the CPU per record of C2)"
	}
	return "Kafka JVM with the default tiered JIT (C2, as in production; KAFKA_JIT=tiered)"
}
