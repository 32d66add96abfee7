package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// quietFor is how long a system with zero lag and no new outcome rows is
// watched before what is missing is declared lost (the sink flushes within
// a second or two; the catalog debounce waits at most 30 s).
const quietFor = 35 * time.Second

// result is one table row.
type result struct {
	name                            string
	sent, accepted, delivered, lost int
	dupPosts, dupMessages, outOrder int
	dlq, chMissing, chTwice         int
	drain                           time.Duration
	drained                         bool
	peakMB                          float64
	failures, notes                 []string
}

func (r *result) failf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}
func (r *result) notef(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}
func (r *result) pass() bool { return len(r.failures) == 0 }

// run executes one scenario on the running system.
func (s *system) run(ctx context.Context, tag string, idx int, sc scenario, short bool) *result {
	r := &result{name: sc.name}
	ld := sc.full
	if short {
		ld = sc.short
	}
	prefix := fmt.Sprintf("chaos-%s-%d-", tag, idx)
	dlqFrom, err := endOffsets(ctx, s.adm, schemas.TopicDLQ)
	if err != nil {
		r.failf("%v", err)
		return r
	}
	s.send.resetLog()
	s.send.captured = ld.captured
	defer func() { s.send.captured = false }()
	s.sup.resetPeaks()

	// Entity ids unique per run and scenario, so the order ledger and the
	// catalog state of earlier runs on the same broker never interfere.
	base := (time.Now().Unix()%100000)*10_000_000 + int64(idx)*100_000
	t0 := time.Now().UTC().Truncate(time.Second)
	rounds := workload(tag, idx, ld.orders, ld.customers, ld.products, base, t0)
	if ld.single {
		rounds = [][]*event{{rounds[1][0]}}
	}
	var events []*event
	for _, round := range rounds {
		for _, e := range round {
			e.scenario = sc.name
			s.reg.add(e)
			if ld.captured && e.typ == "order.created" {
				for _, k := range []string{e.id + "~2", e.id + "~3", pipeline.BodyEventID(e.body)} {
					s.reg.alias(k, e)
				}
			}
			events = append(events, e)
		}
	}
	r.sent = len(events)
	traffic := time.Second
	if ld.perSecond > 0 {
		traffic = time.Duration(float64(len(events)) / ld.perSecond * float64(time.Second))
	}
	if sc.before != nil {
		sc.before(s)
	}
	if sc.cleanup != nil {
		defer sc.cleanup(s)
	}
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		s.send.run(ctx, rounds, ld.perSecond)
	}()
	if sc.during != nil {
		if err := sc.during(ctx, s, r, short, traffic); err != nil {
			r.failf("fault hook: %v", err)
		}
	}
	<-sendDone
	quiet := time.Now()
	for _, e := range events {
		if e.isAccepted() {
			r.accepted++
		}
	}
	s.send.mu.Lock()
	if n := len(s.send.rejected); n > 0 {
		r.failf("%d webhooks refused with 4xx (first: %s)", n, s.send.rejected[0])
	}
	s.send.mu.Unlock()

	// Settled: every group has zero lag, every accepted event has a
	// terminal outcome in ClickHouse, and the catalog holds the newest
	// accepted version of every product.
	//
	// Quiet: no group lags and the scenario's outcome rows have not changed
	// for quietFor — nothing is in flight any more, so what is still
	// missing will not come (an outcome row the system lost). The wait
	// ends there instead of at the timeout, and the scenario fails.
	var (
		outs      outcomes
		lastRows  = -1
		lastMove  = time.Now()
		quietEnd  bool
		remaining int
	)
	err = waitFor(ctx, sc.drainTimeout, time.Second, func() (bool, error) {
		zero, _, err := lagZero(ctx, s.adm)
		if err != nil || !zero {
			lastMove = time.Now()
			return false, err
		}
		if outs, err = s.ch.outcomes(ctx, prefix, events); err != nil {
			return false, err
		}
		if rows := outs.rows(); rows != lastRows {
			lastRows, lastMove = rows, time.Now()
		}
		remaining = 0
		for _, e := range events {
			if e.isAccepted() && !outs.terminal(e) {
				remaining++
			}
		}
		if remaining == 0 && len(s.catalogMissing(events)) == 0 {
			return true, nil
		}
		quietEnd = time.Since(lastMove) > quietFor
		return quietEnd, nil
	})
	r.drain = time.Since(quiet)
	r.drained = err == nil && !quietEnd
	switch {
	case err != nil:
		r.failf("did not settle: %v", err)
	case quietEnd:
		r.drain -= quietFor
		r.failf("went quiet (zero lag, no new outcome for %s) with %d accepted events without a terminal outcome, %d products missing from the catalog",
			quietFor, remaining, len(s.catalogMissing(events)))
	}
	if sc.after != nil {
		if err := sc.after(ctx, s, r); err != nil {
			r.failf("after hook: %v", err)
		}
	}
	s.count(ctx, r, events, prefix, dlqFrom)
	r.peakMB = s.sup.peakMB()
	if crashed := s.sup.crashed(); len(crashed) > 0 {
		r.failf("exited on their own: %s (restarted)", strings.Join(crashed, ", "))
		for _, name := range crashed {
			p := s.sup.get(name)
			p.mu.Lock()
			p.cmd = nil
			p.mu.Unlock()
			_ = s.sup.start(p)
		}
	}
	return r
}

// count fills the numbers of r and its pass criteria.
func (s *system) count(ctx context.Context, r *result, events []*event, prefix string, dlqFrom map[int32]int64) {
	var msgEvents []*event
	for _, e := range events {
		if e.message {
			msgEvents = append(msgEvents, e)
		}
	}
	st := s.inbox.stats(msgEvents)
	r.delivered, r.dupPosts, r.dupMessages, r.outOrder = st.delivered, st.dupPosts, st.dupMessages, st.outOfOrder

	// Lost: an accepted event whose effect never happened. An order step
	// counts as delivered when it, or a newer step of the same order,
	// reached the customer (a superseded step must not be sent); a
	// welcome must arrive; a product's newest accepted version must be in
	// the last catalog upload.
	topDelivered := map[string]int{}
	for _, e := range msgEvents {
		if e.kind == "order" {
			if _, ok := topDelivered[e.entity]; !ok {
				top := -1
				for _, rank := range s.inbox.orderDelivered(e.entity) {
					top = max(top, rank)
				}
				topDelivered[e.entity] = top
			}
		}
	}
	for _, e := range events {
		if !e.isAccepted() {
			continue
		}
		switch e.kind {
		case "order":
			if !s.inbox.delivered(e) && topDelivered[e.entity] < e.rank {
				r.lost++
			}
		case "customer":
			if !s.inbox.delivered(e) {
				r.lost++
			}
		}
	}
	r.lost += len(s.catalogMissing(events))

	n, err := dlqRecords(ctx, s.brokers, s.adm, dlqFrom, prefix)
	if err != nil {
		r.failf("%v", err)
	}
	r.dlq = n

	outs, err := s.ch.outcomes(ctx, prefix, events)
	if err != nil {
		r.failf("%v", err)
	}
	for _, e := range events {
		if !e.isAccepted() {
			continue
		}
		missing, twice := outs.check(e)
		if missing {
			r.chMissing++
		}
		if twice {
			r.chTwice++
		}
	}
	if st.unknown > 0 {
		r.notef("%d inbox keys the sender never produced (cumulative)", st.unknown)
	}
	for _, c := range []struct {
		n    int
		what string
	}{
		{r.lost, "accepted events lost"},
		{r.dupMessages, "customer-visible duplicate messages"},
		{r.outOrder, "out-of-order statuses"},
		{r.dlq, "DLQ records from transient faults"},
		{r.chMissing, "accepted events without their received/effect row in webhook_events"},
		{r.chTwice, "events with more than one effect row in webhook_events"},
	} {
		if c.n > 0 {
			r.failf("%d %s", c.n, c.what)
		}
	}
	if r.accepted < r.sent {
		r.notef("%d of %d webhooks never accepted (sender gave up)", r.sent-r.accepted, r.sent)
	}
}

// catalogMissing returns the products whose newest accepted version is not
// in the knowledge base's newest document.
func (s *system) catalogMissing(events []*event) []string {
	newest := map[string]int{}
	for _, e := range events {
		if e.kind == "product" && e.isAccepted() {
			newest[e.entity] = max(newest[e.entity], e.rank)
		}
	}
	if len(newest) == 0 {
		return nil
	}
	// One pass over the document (a soak's catalog holds thousands of
	// products): every product name and version it shows.
	shown := map[string]bool{}
	for _, m := range productNameRE.FindAllString(s.latestCatalog(), -1) {
		shown[m] = true
	}
	var out []string
	for id, v := range newest {
		var pid int64
		_, _ = fmt.Sscan(id, &pid) // ids are the decimal product ids chaos sent
		if !shown[productName(pid, v)] {
			out = append(out, id)
		}
	}
	return out
}

// productNameRE matches productName's output.
var productNameRE = regexp.MustCompile(`Chaos [0-9]+ version [0-9]+`)

func (s *system) latestCatalog() string {
	docs := s.coze.Documents()
	if len(docs) == 0 {
		return ""
	}
	return string(docs[len(docs)-1].Content)
}

// replayOldProduct puts an old version of a product (older updated_at than
// the catalog's) on the DLQ as the processor would have dead-lettered it,
// replays it with `shopstream replay`, and checks the catalog still shows
// the newer version.
func replayOldProduct(ctx context.Context, s *system, r *result) error {
	var target *event
	for _, e := range s.regEvents(r) {
		if e.kind == "product" && e.rank == 2 && e.isAccepted() {
			target = e
			break
		}
	}
	if target == nil {
		return errors.New("no accepted product to replay against")
	}
	var pid int64
	_, _ = fmt.Sscan(target.entity, &pid) // ids are the decimal product ids chaos sent
	old := productData(pid, 0, time.Now().UTC().Add(-time.Hour))
	body := fmt.Sprintf(`{"event":"product.updated","timestamp":%q,"data":{"id":%d,"sku":%q,"name":%q,"description":"chaos product","price":"9.50","qty":5,"updated_at":%q}}`,
		time.Now().UTC().Add(-time.Hour).Format(time.RFC3339), pid, old["sku"], old["name"], old["updated_at"])
	id := "chaos-replay-" + target.id
	now := time.Now().UTC()
	rec := &kgo.Record{Topic: schemas.TopicDLQ, Key: []byte(target.entity), Value: []byte(body), Headers: []kgo.RecordHeader{
		{Key: schemas.HeaderEventID, Value: []byte(id)},
		{Key: schemas.HeaderEventType, Value: []byte("product.updated")},
		{Key: schemas.HeaderReceivedAt, Value: []byte(now.Add(-time.Hour).Format(time.RFC3339Nano))},
		{Key: schemas.HeaderSignatureScheme, Value: []byte(pipeline.SchemeStandardWebhooks)},
		{Key: schemas.HeaderOriginalTopic, Value: []byte(schemas.TopicProduct)},
		{Key: schemas.HeaderAttempts, Value: []byte("4")},
		{Key: schemas.HeaderError, Value: []byte("chaos: a dead letter from an old incident")},
		{Key: schemas.HeaderFailedAt, Value: []byte(now.Add(-50 * time.Minute).Format(time.RFC3339Nano))},
	}}
	if err := s.kcl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("produce dead letter: %w", err)
	}
	uploads := s.coze.Uploads()
	cmd := exec.CommandContext(ctx, s.sup.bin, "replay", "--event-id", id, "--rate", "0")
	cmd.Env = s.toolEnv
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("shopstream replay: %w\n%s", err, out)
	}
	r.notef("replay: %s", strings.TrimSpace(string(out[strings.LastIndex(string(out[:len(out)-1]), "\n")+1:])))
	// Settle: the replayed event has its outcome and no group lags; then
	// give the debounced catalog a chance to upload (it may rightly not).
	err = waitFor(ctx, time.Minute, time.Second, func() (bool, error) {
		outs, err := s.ch.outcomes(ctx, id, nil)
		if err != nil || !outs.terminal(&event{id: id}) {
			return false, err
		}
		zero, _, err := lagZero(ctx, s.adm)
		return zero, err
	})
	if err != nil {
		r.failf("replayed event did not settle: %v", err)
	}
	_ = waitFor(ctx, 15*time.Second, 500*time.Millisecond, func() (bool, error) { return s.coze.Uploads() > uploads, nil })
	cat := s.latestCatalog()
	switch {
	case strings.Contains(cat, productName(pid, 0)):
		r.failf("catalog went backwards: product %d shows the replayed old version", pid)
	case !strings.Contains(cat, productName(pid, 2)):
		r.failf("catalog lost product %d's newest version after the replay", pid)
	}
	return nil
}

// regEvents returns the events of the scenario r describes.
func (s *system) regEvents(r *result) []*event {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	var out []*event
	for _, e := range s.reg.m {
		if e.scenario == r.name {
			out = append(out, e)
		}
	}
	return out
}
