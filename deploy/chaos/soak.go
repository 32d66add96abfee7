package main

// The bounded-memory benchmark of issue 8: a downstream down for a long
// time (10 minutes) under steady traffic must not grow any process without
// bound. It runs as a scenario of the suite (the same sender, fakes,
// settling and counts) with a monitor beside it that samples every
// process's resident memory, the held events and the backlog, and checks
// each process's peak against a limit (256 MB).

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/shopstream/shopstream/internal/clock"
)

// soakKind is one long outage and the traffic that flows through it.
type soakKind struct {
	name string
	rate float64 // default events per second
	// load spreads rate x duration events over the workload's rounds.
	load func(rate float64, d time.Duration) load
	// down starts (true) or ends (false) the outage.
	down func(s *system, down bool)
}

var soakKinds = map[string]soakKind{
	// Products only: each a created and an updated version, so the
	// catalog grows by rate/2 products a second while no sync succeeds.
	"coze-down": {name: "coze-down", rate: 50,
		load: func(rate float64, d time.Duration) load {
			return load{products: max(int(rate*d.Seconds()/2), 1), perSecond: rate}
		},
		down: func(s *system, down bool) { s.cozeDown.Store(down) }},
	// Orders only, each through its four steps (created, processing,
	// shipped, delivered): every step waits for the inbox.
	"inbox-down": {name: "inbox-down", rate: 200,
		load: func(rate float64, d time.Duration) load {
			return load{orders: max(int(rate*d.Seconds()/4), 1), perSecond: rate}
		},
		down: func(s *system, down bool) { s.inbox.setDown(down) }},
}

// soakReport is what the monitor saw besides the scenario's row.
type soakReport struct {
	kind     string
	duration time.Duration
	rate     float64
	limitMB  float64

	mu                sync.Mutex
	names             []string
	atOutageEnd       []float64 // RSS MB per process when the outage ended
	afterDrain        []float64
	peak              []float64
	maxHeld, maxMarks int
	maxLag            int64
	heldEnd, marksEnd int
	lagEnd            int64
	sentByOutageEnd   int
	timeline          []string
	monitorErrs       int
	lastMonitorErr    string
	trafficStart      time.Time
}

// runSoaks runs each soak kind in turn on the running system and prints
// its row and report; the exit code is 1 when any failed.
func runSoaks(ctx context.Context, sys *system, tag string, kinds []soakKind, d time.Duration, rate, limitMB float64) int {
	var results []*result
	var reports []*soakReport
	for i, k := range kinds {
		rt := rate
		if rt <= 0 {
			rt = k.rate
		}
		rep := &soakReport{kind: k.name, duration: d, rate: rt, limitMB: limitMB}
		for _, p := range sys.sup.procs {
			rep.names = append(rep.names, p.name)
		}
		logf("soak %d: %s for %s at %.0f events/s", i+1, k.name, d, rt)
		r := sys.run(ctx, tag, 100+i, soakScenario(ctx, k, rep, d, rt), false)
		for j, p := range sys.sup.procs {
			peak, rss := p.mem()
			rep.peak = append(rep.peak, peak)
			rep.afterDrain = append(rep.afterDrain, rss)
			if peak > limitMB {
				r.failf("%s peaked at %.0f MB resident, over the %.0f MB limit", rep.names[j], peak, limitMB)
			}
		}
		results = append(results, r)
		reports = append(reports, rep)
		printRow(os.Stderr, r)
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Println()
	printTable(os.Stdout, results)
	for i, rep := range reports {
		fmt.Println()
		rep.print(os.Stdout, results[i])
	}
	return verdict(results, "soak runs")
}

// soakScenario is the outage as a scenario: the downstream goes down
// before the traffic starts and comes back after d; drain is measured from
// then (or from the end of the traffic, if the sender fell behind).
func soakScenario(ctx context.Context, k soakKind, rep *soakReport, d time.Duration, rate float64) scenario {
	ld := k.load(rate, d)
	var stop context.CancelFunc
	var done chan struct{}
	return scenario{
		name:   fmt.Sprintf("soak %s %s", k.name, d),
		proves: "a long downstream outage under steady traffic keeps every process's memory bounded",
		full:   ld, short: ld,
		drainTimeout: 30 * time.Minute,
		before: func(s *system) {
			k.down(s, true)
			var mctx context.Context
			mctx, stop = context.WithCancel(ctx)
			done = make(chan struct{})
			rep.trafficStart = time.Now()
			go func() {
				defer close(done)
				rep.monitor(mctx, s)
			}()
		},
		during: func(ctx context.Context, s *system, _ *result, _ bool, _ time.Duration) error {
			err := clock.Sleep(ctx, d)
			rep.outageEnd(ctx, s)
			k.down(s, false)
			logf("soak %s: outage over after %s; draining", k.name, d)
			return err
		},
		cleanup: func(s *system) {
			k.down(s, false)
			if stop != nil {
				stop()
				<-done
			}
		},
	}
}

// monitor samples every 5 s until ctx ends: held events and pending
// catalog marks (the processes' /metrics), the groups' lag, and every
// minute a timeline line with each process's resident memory. Peaks per
// process come from the supervisor's VmHWM sampling.
func (rep *soakReport) monitor(ctx context.Context, s *system) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	lastLine := time.Time{}
	for {
		held, marks, lag, err := s.backlog(ctx)
		rep.mu.Lock()
		if err != nil {
			rep.monitorErrs++
			rep.lastMonitorErr = err.Error()
		}
		rep.maxHeld, rep.maxMarks, rep.maxLag = max(rep.maxHeld, held), max(rep.maxMarks, marks), max(rep.maxLag, lag)
		rep.mu.Unlock()
		if time.Since(lastLine) >= time.Minute {
			lastLine = time.Now()
			var b strings.Builder
			fmt.Fprintf(&b, "%6s", time.Since(rep.trafficStart).Round(time.Second))
			for _, p := range s.sup.procs {
				_, rss := p.mem()
				fmt.Fprintf(&b, " %s %.0f", p.name, rss)
			}
			lagText := strconv.FormatInt(lag, 10)
			if lag < 0 {
				lagText = "?" // a group not known to the broker yet
			}
			fmt.Fprintf(&b, " MB | held %d, catalog marks %d, lag %s", held, marks, lagText)
			line := b.String()
			rep.mu.Lock()
			rep.timeline = append(rep.timeline, line)
			rep.mu.Unlock()
			logf("soak %s: %s", rep.kind, line)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// outageEnd records the state at the end of the outage.
func (rep *soakReport) outageEnd(ctx context.Context, s *system) {
	held, marks, lag, _ := s.backlog(ctx)
	var rss []float64
	for _, p := range s.sup.procs {
		_, m := p.mem()
		rss = append(rss, m)
	}
	accepted := 0
	for _, e := range s.regEvents(&result{name: fmt.Sprintf("soak %s %s", rep.kind, rep.duration)}) {
		if e.isAccepted() {
			accepted++
		}
	}
	rep.mu.Lock()
	defer rep.mu.Unlock()
	rep.heldEnd, rep.marksEnd, rep.lagEnd, rep.atOutageEnd = held, marks, lag, rss
	rep.sentByOutageEnd = accepted
}

// backlog sums shopstream_held_events and shopstream_catalog_pending_marks
// over the processors and reads the groups' total lag.
func (s *system) backlog(ctx context.Context) (held, marks int, lag int64, err error) {
	for i, p := range s.sup.procs {
		if !strings.HasPrefix(p.name, "process") {
			continue
		}
		m, e := scrape(ctx, adminPortBase+i, "shopstream_held_events", "shopstream_catalog_pending_marks")
		if e != nil {
			err = e
			continue
		}
		held += int(m["shopstream_held_events"])
		marks += int(m["shopstream_catalog_pending_marks"])
	}
	_, lag, e := lagZero(ctx, s.adm)
	if e != nil {
		err = e
	}
	return held, marks, lag, err
}

// scrape reads unlabelled gauges from a process's /metrics.
func scrape(ctx context.Context, port int, names ...string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", port), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics :%d: %w", port, err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		for _, n := range names {
			if name == n {
				v, _ := strconv.ParseFloat(strings.Fields(val)[0], 64)
				out[n] = v
			}
		}
	}
	return out, sc.Err()
}

// print writes the soak's report: RSS per process (Markdown), backlog,
// recovery and the timeline.
func (rep *soakReport) print(w io.Writer, r *result) {
	rep.mu.Lock()
	defer rep.mu.Unlock()
	_, _ = fmt.Fprintf(w, "soak %s: %s down for %s, %.0f events/s offered (%d accepted by the end of the outage, %d in all)\n",
		rep.kind, strings.TrimSuffix(rep.kind, "-down"), rep.duration, rep.rate, rep.sentByOutageEnd, r.accepted)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	_, _ = fmt.Fprintln(tw, "| process\t| peak RSS (VmHWM)\t| RSS at end of outage\t| RSS after drain\t| limit\t|")
	_, _ = fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|---\t|")
	for i, n := range rep.names {
		verdict := "under"
		if i < len(rep.peak) && rep.peak[i] > rep.limitMB {
			verdict = "OVER"
		}
		_, _ = fmt.Fprintf(tw, "| %s\t| %.0f MB\t| %.0f MB\t| %.0f MB\t| %s %.0f MB\t|\n",
			n, at(rep.peak, i), at(rep.atOutageEnd, i), at(rep.afterDrain, i), verdict, rep.limitMB)
	}
	_ = tw.Flush()
	drain := r.drain.Round(100 * time.Millisecond).String()
	if !r.drained {
		drain = ">" + drain
	}
	_, _ = fmt.Fprintf(w, "held during the outage: max %d events held by the processors (at its end %d), max %d catalog marks pending (at its end %d), max group lag %d records (at its end %d)\n",
		rep.maxHeld, rep.heldEnd, rep.maxMarks, rep.marksEnd, rep.maxLag, rep.lagEnd)
	_, _ = fmt.Fprintf(w, "after recovery: %d delivered, %d lost, %d DLQ, CH missing/twice %d/%d, drain %s\n",
		r.delivered, r.lost, r.dlq, r.chMissing, r.chTwice, drain)
	if rep.monitorErrs > 0 {
		_, _ = fmt.Fprintf(w, "monitor: %d samples incomplete (last: %s)\n", rep.monitorErrs, rep.lastMonitorErr)
	}
	_, _ = fmt.Fprintln(w, "timeline (RSS per process; held, pending marks, lag):")
	for _, l := range rep.timeline {
		_, _ = fmt.Fprintln(w, "  "+l)
	}
}

func at(xs []float64, i int) float64 {
	if i < len(xs) {
		return xs[i]
	}
	return 0
}
