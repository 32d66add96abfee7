// Package alertdigest carries store alerts through Kafka to the store
// team's channels, coalescing bursts into digests for the whole group.
//
// The processors publish each alert (Publisher, a pipeline.AlertSender) to
// the single-partition topic shopstream.alerts before they mark the
// product event; one member of the shopstream-alerts group owns that
// partition, however many processes run. Its owner coalesces alerts with
// the catalog sync's window (pipeline.DebounceWindow over each record's
// produce time: quiet period after the last, never later than max wait
// after the first) and then sends the window: fewer than the digest
// minimum one by one, more as one digest (pipeline.PlanDigest). Records are
// marked and committed only after every message of their window was
// accepted; a window that fails transiently is retried with backoff for as
// long as it takes (like a catalog sync), and a revoke stops the owner so
// the next one re-reads the window from the committed offset (the channels
// are idempotent by id).
//
// The window is measured on produce times, so records that are already
// older than the quiet period when the owner reads them (a new owner
// re-reading the uncommitted window, records queued while a slow window
// was being sent) make a window that is due at once. Such a window is not
// sent on the first late record: the owner waits for a pause in arrivals
// (settle, min(Quiet, 200 ms)), but no longer than lateMax (2 s, or the
// max wait when shorter) after the first late record, so a backlog becomes
// one digest rather than one message per alert, and a steady stream is
// still sent.
//
// The digester remembers the ids of the alerts it sent (alone or in a
// digest) in a bounded LRU (rememberSent ids) and leaves them out of later
// windows: an alert re-published by a retried product event, or re-read
// after a revoke, is not sent twice by the same process.
package alertdigest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/consume"
	"github.com/shopstream/shopstream/internal/lru"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// Publisher is the processors' pipeline.AlertSender: it makes an alert
// durable in the alerts topic and returns once the broker acknowledged it.
type Publisher struct {
	prod  *kafka.Producer
	topic string
	now   func() time.Time
}

// NewPublisher builds the publisher over a shared producer.
func NewPublisher(prod *kafka.Producer, topic string, now func() time.Time) *Publisher {
	if now == nil {
		now = time.Now
	}
	return &Publisher{prod: prod, topic: topic, now: now}
}

// SendAlert implements pipeline.AlertSender.
func (p *Publisher) SendAlert(ctx context.Context, a pipeline.Alert) error {
	b, err := json.Marshal(a)
	if err != nil {
		return pipeline.Permanentf("alert %s: encode: %w", a.ID, err)
	}
	return p.prod.Produce(ctx, &kgo.Record{Topic: p.topic, Key: []byte("alerts"), Value: b, Timestamp: p.now(),
		Headers: []kgo.RecordHeader{{Key: schemas.HeaderEventID, Value: []byte(a.ID)},
			{Key: schemas.HeaderEventType, Value: []byte(pipeline.AlertEventType(a.Trigger))}}})
}

// Channels sends one alert or one digest (pipeline.AlertChannels).
type Channels interface {
	SendAlert(ctx context.Context, a pipeline.Alert) error
	SendDigest(ctx context.Context, d pipeline.AlertDigest) error
}

// Config configures the Digester.
type Config struct {
	Group, Topic   string // schemas.GroupAlerts, schemas.TopicAlerts
	Quiet, MaxWait time.Duration
	Rule           pipeline.DigestRule
	SessionTimeout time.Duration
	// Backoff bounds the retry of a failing window (1 s doubling to 30 s).
	Backoff time.Duration
	Now     func() time.Time
}

// rememberSent bounds the ids of sent alerts a digester remembers.
const rememberSent = 10_000

// Late-window timing: a window that is already due when a record arrives
// waits for a pause of settle in arrivals (at most maxSettle), but no
// longer than maxLate (or the max wait, when shorter) after its first late
// record.
const (
	maxSettle = 200 * time.Millisecond
	maxLate   = 2 * time.Second
)

// Digester consumes the alerts topic and sends its windows.
type Digester struct {
	cfg  Config
	ch   Channels
	log  *slog.Logger
	cons *consume.Consumer

	settle, lateMax time.Duration
	// sentIDs holds the ids of alerts accepted by the channels (alone or
	// in a digest), least recently used forgotten first; it outlives the
	// owners, so a new owner does not send them again either.
	sentIDs *lru.Cache[string, struct{}]

	mu     sync.Mutex
	owners map[int32]*owner
	sent   prometheus.Counter
}

// New builds the digester and its consumer.
func New(kcfg kafka.Config, cfg Config, ch Channels, log *slog.Logger, reg prometheus.Registerer) (*Digester, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := newDigester(cfg, ch, log, reg)
	cons, err := consume.New(kcfg, consume.Config{
		Group: d.cfg.Group, Topics: []string{d.cfg.Topic}, Role: "alert-digest",
		SessionTimeout: d.cfg.SessionTimeout, HandleDeferred: d.take, OnRevoked: d.revoked,
	}, log, reg)
	if err != nil {
		return nil, err
	}
	d.cons = cons
	return d, nil
}

// newDigester builds the digester without its consumer.
func newDigester(cfg Config, ch Channels, log *slog.Logger, reg prometheus.Registerer) *Digester {
	if cfg.Group == "" {
		cfg.Group = schemas.GroupAlerts
	}
	if cfg.Topic == "" {
		cfg.Topic = schemas.TopicAlerts
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	quiet, maxWait := cfg.Quiet, cfg.MaxWait
	if quiet <= 0 {
		quiet = pipeline.DefaultCatalogQuiet
	}
	if maxWait <= 0 {
		maxWait = pipeline.DefaultCatalogMaxWait
	}
	settle := min(quiet, maxSettle)
	d := &Digester{cfg: cfg, ch: ch, log: log.With("component", "alert-digest"), owners: map[int32]*owner{},
		settle: settle, lateMax: max(min(maxLate, maxWait), settle),
		sentIDs: lru.New[string, struct{}](rememberSent),
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "shopstream_alert_messages_total",
			Help: "Alert messages (single alerts and digests) accepted by the alert channels."})}
	if reg != nil {
		reg.MustRegister(d.sent)
	}
	return d
}

// Run consumes until ctx ends.
func (d *Digester) Run(ctx context.Context) error { return d.cons.Run(ctx) }

func (d *Digester) revoked(_ context.Context, _ string, partition int32) {
	d.mu.Lock()
	o := d.owners[partition]
	delete(d.owners, partition)
	d.mu.Unlock()
	if o != nil {
		o.stop()
	}
}

// take hands a record to its partition's owner; it blocks while the owner
// is sending a window (back-pressure: memory holds one window at most).
func (d *Digester) take(ctx context.Context, r *kgo.Record, m consume.Marker) error {
	d.mu.Lock()
	o := d.owners[r.Partition]
	if o == nil || o.ctx.Err() != nil {
		o = d.newOwner(ctx)
		d.owners[r.Partition] = o
		go o.run()
	}
	d.mu.Unlock()
	select {
	case o.in <- taken{r, m}:
		return nil
	case <-o.ctx.Done():
		return o.ctx.Err()
	}
}

type taken struct {
	r *kgo.Record
	m consume.Marker
}

type owner struct {
	d      *Digester
	ctx    context.Context
	cancel context.CancelFunc
	in     chan taken
	done   chan struct{}
}

func (d *Digester) newOwner(ctx context.Context) *owner {
	ctx, cancel := context.WithCancel(ctx)
	return &owner{d: d, ctx: ctx, cancel: cancel, in: make(chan taken), done: make(chan struct{})}
}

func (o *owner) stop() {
	o.cancel()
	<-o.done
}

// run collects a window and sends it when it is due.
func (o *owner) run() {
	defer close(o.done)
	cfg := o.d.cfg
	w := pipeline.NewDebounceWindow(cfg.Quiet, cfg.MaxWait)
	var (
		alerts []pipeline.Alert
		recs   []*kgo.Record
		marker consume.Marker
		// lateFirst and lateLast are when the first and the latest record
		// arrived for a window that was already due (zero: none did).
		lateFirst, lateLast time.Time
	)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		arrived := false
		select {
		case <-o.ctx.Done():
			return
		case t := <-o.in:
			arrived = true
			recs, marker = append(recs, t.r), t.m
			var a pipeline.Alert
			if err := json.Unmarshal(t.r.Value, &a); err != nil || a.ID == "" {
				o.d.log.Warn("leaving out a record that is no alert", "offset", t.r.Offset, "error", err)
			} else {
				alerts = append(alerts, a)
			}
			w.Mark(t.r.Timestamp)
		case <-timer.C:
		}
		now := cfg.Now()
		phase, at := w.Phase(now)
		switch phase {
		case pipeline.WindowIdle:
			continue
		case pipeline.WindowQuiet:
			timer.Reset(max(at.Sub(now), time.Millisecond))
			continue
		}
		// Due. A record that arrives when its window is already due was
		// read late (a backlog, or queued behind a slow send): wait for a
		// pause in arrivals, bounded since the first late record, so the
		// rest of the backlog joins the window instead of making windows
		// of one.
		if arrived {
			if lateFirst.IsZero() {
				lateFirst = now
			}
			lateLast = now
		}
		if !lateFirst.IsZero() {
			sendAt := lateLast.Add(o.d.settle)
			if bound := lateFirst.Add(o.d.lateMax); bound.Before(sendAt) {
				sendAt = bound
			}
			if now.Before(sendAt) {
				timer.Reset(max(sendAt.Sub(now), time.Millisecond))
				continue
			}
		}
		started := cfg.Now()
		if err := o.send(alerts); err != nil {
			return // ctx ended: the next owner re-reads the window
		}
		if !marker.Mark(recs...) {
			return
		}
		if err := marker.Commit(o.ctx); err != nil && o.ctx.Err() == nil {
			o.d.log.Warn("alert window sent, commit failed (it commits with the next)", "error", err)
		}
		alerts, recs = nil, nil
		lateFirst, lateLast = time.Time{}, time.Time{}
		w.Reset(started)
	}
}

// send delivers a window's messages, retrying transient failures with
// backoff until they succeed or ctx ends. A message refused permanently is
// logged and left out: a bad alert must not hold back every later one.
// Alerts this digester already sent are left out; those accepted now are
// remembered.
func (o *owner) send(window []pipeline.Alert) error {
	fresh := window[:0:0]
	for _, a := range window {
		if _, ok := o.d.sentIDs.Get(a.ID); !ok {
			fresh = append(fresh, a)
		}
	}
	if n := len(window) - len(fresh); n > 0 {
		o.d.log.Info("alerts already sent; left out of the window", "alerts", n)
	}
	singles, digest := pipeline.PlanDigest(o.d.cfg.Rule, fresh)
	var msgs []func(context.Context) error
	var names []string
	var covers [][]pipeline.Alert
	for _, a := range singles {
		msgs = append(msgs, func(ctx context.Context) error { return o.d.ch.SendAlert(ctx, a) })
		names = append(names, a.ID)
		covers = append(covers, []pipeline.Alert{a})
	}
	if digest != nil {
		msgs = append(msgs, func(ctx context.Context) error { return o.d.ch.SendDigest(ctx, *digest) })
		names = append(names, digest.ID)
		covers = append(covers, digest.Alerts)
		o.d.log.Info("alert digest", "digest", digest.ID, "alerts", digest.Total)
	}
	for i, send := range msgs {
		wait := o.d.cfg.Backoff
		for {
			err := send(o.ctx)
			if err == nil {
				o.d.sent.Inc()
				for _, a := range covers[i] {
					o.d.sentIDs.Put(a.ID, struct{}{})
				}
				break
			}
			if o.ctx.Err() != nil {
				return o.ctx.Err()
			}
			if pipeline.IsPermanent(err) {
				o.d.log.Error("alert message refused for good; left out", "id", names[i], "error", err)
				break
			}
			o.d.log.Warn("alert message failed; retrying", "id", names[i], "retry_in", wait.String(), "error", err)
			select {
			case <-o.ctx.Done():
				return o.ctx.Err()
			case <-time.After(wait):
			}
			wait = min(2*wait, 30*time.Second)
		}
	}
	return nil
}

// String names the digester for logs.
func (d *Digester) String() string { return fmt.Sprintf("alert digest (%s)", d.cfg.Topic) }
