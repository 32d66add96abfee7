package alertdigest

import (
	"context"
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

// Config configures the Digester.
type Config struct {
	Group, Topic string // schemas.GroupAlerts, schemas.TopicAlerts
	// DeferredTopic holds webhook deliveries until the quiet hours end
	// (schemas.TopicAlertsDeferred); "" consumes none.
	DeferredTopic  string
	Quiet, MaxWait time.Duration
	Rule           pipeline.DigestRule
	// DeferredRule shapes what the quiet hours held: by default every two
	// or more become one digest.
	DeferredRule pipeline.DigestRule
	// Channels are the configured channels; an alert goes to each.
	Channels []pipeline.AlertChannel
	// Retry decides where a failed delivery goes (the event retry policy).
	Retry          pipeline.RetryPolicy
	SessionTimeout time.Duration
	// Backoff bounds the retry of a forward the broker did not take (1 s
	// doubling to 30 s).
	Backoff time.Duration
	Now     func() time.Time
}

// Deps are the digester's collaborators.
type Deps struct {
	Dispatch  *pipeline.AlertDispatch // the channels, with the quiet hours
	Forwarder pipeline.Forwarder      // retry tiers and DLQ
	Recorder  pipeline.OutcomeRecorder
}

// rememberSent bounds the deliveries a digester remembers.
const rememberSent = 10_000

// Late-window timing: a window that is already due when a record arrives
// waits for a pause of settle in arrivals (at most maxSettle), but no
// longer than maxLate (or the max wait, when shorter) after its first late
// record.
const (
	maxSettle = 200 * time.Millisecond
	maxLate   = 2 * time.Second
)

// Digester consumes the alerts topics and sends their windows.
type Digester struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	cons *consume.Consumer

	settle, lateMax time.Duration
	// sentIDs holds channel and id of the messages accepted by their
	// channel (a digest's alerts too), least recently used forgotten
	// first; it outlives the owners, so a new owner does not send them
	// again either.
	sentIDs *lru.Cache[string, struct{}]

	mu     sync.Mutex
	owners map[string]*owner // by topic and partition
}

// New builds the digester and its consumer.
func New(kcfg kafka.Config, cfg Config, deps Deps, log *slog.Logger, reg prometheus.Registerer) (*Digester, error) {
	if deps.Dispatch == nil || deps.Forwarder == nil {
		return nil, fmt.Errorf("alert digest: dispatch and forwarder are required")
	}
	if err := cfg.Retry.Validate(); err != nil {
		return nil, fmt.Errorf("alert digest: %w", err)
	}
	d := newDigester(cfg, deps, log)
	topics := []string{d.cfg.Topic}
	if d.cfg.DeferredTopic != "" {
		topics = append(topics, d.cfg.DeferredTopic)
	}
	ccfg := consume.Config{
		Group: d.cfg.Group, Topics: topics, Role: "alert-digest",
		SessionTimeout: d.cfg.SessionTimeout, HandleDeferred: d.take, OnRevoked: d.revoked,
		// Quiet hours end within a day; a due time further out (a bad
		// header, a changed setting) holds the one deferred partition no
		// longer than this, and the delivery is then sent or deferred anew.
		MaxHold: maxDeferredHold,
		// Deferred deliveries wait in their partition until the quiet
		// hours end; the alerts topic has no due times.
		DueAt: func(r *kgo.Record) time.Time {
			if r.Topic != d.cfg.DeferredTopic {
				return time.Time{}
			}
			return kafka.DueAt(r)
		},
	}
	if f, ok := deps.Recorder.(pipeline.FlushingRecorder); ok {
		ccfg.BeforeCommit = f.Flush
	}
	cons, err := consume.New(kcfg, ccfg, log, reg)
	if err != nil {
		return nil, err
	}
	d.cons = cons
	return d, nil
}

// newDigester builds the digester without its consumer.
func newDigester(cfg Config, deps Deps, log *slog.Logger) *Digester {
	if cfg.Group == "" {
		cfg.Group = schemas.GroupAlerts
	}
	if cfg.Topic == "" {
		cfg.Topic = schemas.TopicAlerts
	}
	if cfg.DeferredRule.Min <= 0 {
		cfg.DeferredRule = pipeline.DigestRule{Min: 2, First: cfg.Rule.First}
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
	return &Digester{cfg: cfg, deps: deps, log: log.With("component", "alert-digest"), owners: map[string]*owner{},
		settle: settle, lateMax: max(min(maxLate, maxWait), settle),
		sentIDs: lru.New[string, struct{}](rememberSent)}
}

// Run consumes until ctx ends.
func (d *Digester) Run(ctx context.Context) error { return d.cons.Run(ctx) }

func ownerKey(topic string, partition int32) string { return fmt.Sprintf("%s/%d", topic, partition) }

func (d *Digester) revoked(_ context.Context, topic string, partition int32) {
	d.mu.Lock()
	o := d.owners[ownerKey(topic, partition)]
	delete(d.owners, ownerKey(topic, partition))
	d.mu.Unlock()
	if o != nil {
		o.stop()
	}
}

// take hands a record to its partition's owner; it blocks while the owner
// is sending a window (back-pressure: memory holds one window at most).
func (d *Digester) take(ctx context.Context, r *kgo.Record, m consume.Marker) error {
	key := ownerKey(r.Topic, r.Partition)
	d.mu.Lock()
	o := d.owners[key]
	if o == nil || o.ctx.Err() != nil {
		rule := d.cfg.Rule
		if r.Topic != "" && r.Topic == d.cfg.DeferredTopic {
			rule = d.cfg.DeferredRule
		}
		o = d.newOwner(ctx, rule)
		d.owners[key] = o
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
	rule   pipeline.DigestRule
	ctx    context.Context
	cancel context.CancelFunc
	in     chan taken
	done   chan struct{}
}

func (d *Digester) newOwner(ctx context.Context, rule pipeline.DigestRule) *owner {
	ctx, cancel := context.WithCancel(ctx)
	return &owner{d: d, rule: rule, ctx: ctx, cancel: cancel, in: make(chan taken), done: make(chan struct{})}
}

// maxDeferredHold caps how long a deferred delivery holds its partition.
const maxDeferredHold = 25 * time.Hour

func (o *owner) stop() {
	o.cancel()
	<-o.done
}

// run collects a window and sends it when it is due.
func (o *owner) run() {
	defer close(o.done)
	defer o.cancel() // however run ends, take never waits on it again
	cfg := o.d.cfg
	w := pipeline.NewDebounceWindow(cfg.Quiet, cfg.MaxWait)
	var (
		win    window
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
			marker = t.m
			win.add(o.d, t.r)
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
		if err := o.send(win); err != nil {
			return // ctx ended: the next owner re-reads the window
		}
		if !marker.Mark(win.recs...) {
			return
		}
		if err := marker.Commit(o.ctx); err != nil && o.ctx.Err() == nil {
			o.d.log.Warn("alert window sent, commit failed (it commits with the next)", "error", err)
		}
		win = window{}
		lateFirst, lateLast = time.Time{}, time.Time{}
		w.Reset(started)
	}
}

// String names the digester for logs.
func (d *Digester) String() string { return fmt.Sprintf("alert digest (%s)", d.cfg.Topic) }
