package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Notification is one message to a customer through the support inbox. The
// event id is its idempotency key all the way to the inbox backend.
type Notification struct {
	EventID string
	Email   string
	Text    string
	Reason  string // what it announces: "order.updated:shipped", "welcome", ...
}

// Notifier delivers a notification; nil means the inbox stored it.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// Delivery is one attempt at an event: the event and where it came from.
// Attempt is 1 from the source topic, 2 from the first retry tier, ...
type Delivery struct {
	Event     Event
	Attempt   int
	Topic     string // where this attempt was read
	Partition int32
	Offset    int64
	// Origin is where the event was first written (its source topic); a
	// retry tier record carries it in headers, so the DLQ can name it.
	Origin Origin
	// RetrySince is when the event's retry budget (RetryPolicy.MaxAge)
	// started: zero means Event.ReceivedAt. An event an operator replayed
	// from the DLQ starts a new budget at its replay time.
	RetrySince time.Time
}

// Since is when d's retry budget started: RetrySince, else the event's
// receipt.
func (d Delivery) Since() time.Time {
	if !d.RetrySince.IsZero() {
		return d.RetrySince
	}
	return d.Event.ReceivedAt
}

// Origin locates an event's first record.
type Origin struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Forwarder hands a failed delivery on. Both calls return only once the
// record is durable in the tier or dead-letter topic.
type Forwarder interface {
	Retry(ctx context.Context, d Delivery, decision RetryDecision, cause error) error
	DeadLetter(ctx context.Context, d Delivery, cause error) error
}

// CatalogMarker records, durably, that a product event changed the catalog;
// the catalog sync picks it up and covers it.
type CatalogMarker interface {
	MarkCatalog(ctx context.Context, d Delivery) error
}

// OutcomeRecorder records an attempt's outcome for analytics. It must not
// block or fail.
type OutcomeRecorder interface {
	Record(Outcome)
}

// Recorders records each outcome with every recorder in turn (the outcome
// topic and the metrics).
type Recorders []OutcomeRecorder

// Record implements OutcomeRecorder.
func (rs Recorders) Record(o Outcome) {
	for _, r := range rs {
		r.Record(o)
	}
}

// Flush waits for every recorder that buffers (the outcome topic's writer).
func (rs Recorders) Flush(ctx context.Context) error {
	var err error
	for _, r := range rs {
		if f, ok := r.(interface{ Flush(context.Context) error }); ok {
			err = errors.Join(err, f.Flush(ctx))
		}
	}
	return err
}

// ProcessorConfig holds the feature flags and the retry policy.
type ProcessorConfig struct {
	Retry                 RetryPolicy
	SendOrderConfirmation bool
	SendWelcome           bool
	AutoSyncCatalog       bool
}

// ProcessorDeps are the processor's collaborators.
type ProcessorDeps struct {
	Notifier  Notifier
	Catalog   CatalogMarker
	Forwarder Forwarder
	Recorder  OutcomeRecorder  // optional
	Breaker   *Breaker         // the inbox's; optional (a default one)
	Progress  *OrderProgress   // optional
	Seen      *SeenSet         // optional
	Logger    *slog.Logger     // optional
	Now       func() time.Time // optional
}

// Processor routes each delivery to its action and makes its outcome
// durable: done, forwarded to a retry tier, or dead-lettered. It is safe for
// concurrent use by one goroutine per partition.
type Processor struct {
	cfg  ProcessorConfig
	deps ProcessorDeps
}

// NewProcessor builds a processor, filling optional dependencies.
func NewProcessor(cfg ProcessorConfig, deps ProcessorDeps) (*Processor, error) {
	if deps.Notifier == nil || deps.Catalog == nil || deps.Forwarder == nil {
		return nil, errors.New("processor: notifier, catalog marker and forwarder are required")
	}
	if err := cfg.Retry.Validate(); err != nil {
		return nil, fmt.Errorf("processor: %w", err)
	}
	if deps.Breaker == nil {
		deps.Breaker = NewBreaker(BreakerConfig{})
	}
	if deps.Progress == nil {
		deps.Progress = NewOrderProgress(DefaultOrderCapacity)
	}
	if deps.Seen == nil {
		deps.Seen = NewSeenSet(DefaultSeenCapacity)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Processor{cfg: cfg, deps: deps}, nil
}

// Handle processes one delivery. It returns nil once the delivery's outcome
// is durable, so the caller may mark its offset; an error (the context ended,
// Kafka refused the forward) means "not done, deliver again".
func (p *Processor) Handle(ctx context.Context, d Delivery) error {
	start := p.deps.Now()
	if p.deps.Seen.Seen(d.Event.ID) {
		p.record(d, start, StatusDuplicate, nil)
		return nil
	}
	act, err := p.plan(d.Event)
	if err != nil {
		return p.fail(ctx, d, start, err)
	}
	switch {
	case act.skip != "":
		p.deps.Seen.Add(d.Event.ID)
		p.record(d, start, StatusSkipped, errors.New(act.skip))
		return nil
	case act.catalog:
		// The sync records the final outcome once the knowledge base has
		// the new catalog; here the change only has to be durable.
		err := p.deps.Catalog.MarkCatalog(ctx, d)
		if IsPermanent(err) {
			return p.fail(ctx, d, start, err)
		}
		return err
	}
	if act.order != "" {
		switch p.deps.Progress.Classify(act.order, act.status, act.at) {
		case OrderSuperseded:
			p.deps.Seen.Add(d.Event.ID)
			p.record(d, start, StatusSuperseded, fmt.Errorf("a newer status of order %s was already sent", act.order))
			return nil
		case OrderDuplicate:
			p.deps.Seen.Add(d.Event.ID)
			p.record(d, start, StatusDuplicate, fmt.Errorf("status %s of order %s was already sent", act.status, act.order))
			return nil
		}
	}
	if err := p.notify(ctx, act.note); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return p.fail(ctx, d, start, err)
	}
	if act.order != "" {
		p.deps.Progress.Record(act.order, act.status, act.at)
	}
	p.deps.Seen.Add(d.Event.ID)
	p.record(d, start, StatusCompleted, nil)
	return nil
}

// DeadLetter sends a delivery that cannot be processed at all (its record is
// not a webhook) straight to the DLQ.
func (p *Processor) DeadLetter(ctx context.Context, d Delivery, cause error) error {
	return p.fail(ctx, d, p.deps.Now(), Permanent(cause))
}

// notify delivers through the inbox's breaker. An isolated transient failure
// is returned (the event climbs the retry tiers); while the inbox is down for
// everything the event is held here and probed, spending none of its retry
// budget, so an outage ends with events delivered late, not dead-lettered.
func (p *Processor) notify(ctx context.Context, n Notification) error {
	held := false
	for {
		ok, wait := p.deps.Breaker.Allow(p.deps.Now())
		if !ok {
			if !held {
				held = true
				p.deps.Logger.Warn("inbox outage: holding event", "event_id", n.EventID, "retry_in", wait.String())
			}
			if err := sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		err := p.deps.Notifier.Notify(ctx, n)
		if err == nil {
			p.deps.Breaker.Success(p.deps.Now())
			if held {
				p.deps.Logger.Info("inbox back: held event delivered", "event_id", n.EventID)
			}
			return nil
		}
		p.deps.Breaker.Failure(p.deps.Now(), err)
		if IsPermanent(err) || ctx.Err() != nil || p.deps.Breaker.State() == BreakerClosed {
			return err
		}
	}
}

// fail forwards a failed delivery to the next retry tier or the DLQ.
func (p *Processor) fail(ctx context.Context, d Delivery, start time.Time, cause error) error {
	dec := p.cfg.Retry.Decide(FailedAttempt{Err: cause, Attempt: d.Attempt, Since: d.Since(), Now: p.deps.Now()})
	if dec.DeadLetter {
		if err := p.deps.Forwarder.DeadLetter(ctx, d, cause); err != nil {
			return fmt.Errorf("dead-letter %s: %w", d.Event.ID, err)
		}
		// Not added to Seen: an operator may replay it once the cause is
		// fixed, and it must then be delivered.
		p.record(d, start, StatusDead, cause)
		return nil
	}
	if err := p.deps.Forwarder.Retry(ctx, d, dec, cause); err != nil {
		return fmt.Errorf("forward %s to retry tier %d: %w", d.Event.ID, dec.Tier+1, err)
	}
	p.record(d, start, StatusRetrying, cause)
	return nil
}

func (p *Processor) record(d Delivery, start time.Time, status Status, cause error) {
	out := NewOutcome(d, status, cause, start, p.deps.Now())
	level := slog.LevelInfo
	if status == StatusDead || status == StatusRetrying {
		level = slog.LevelWarn
	}
	// Operators filter on these fields; no e-mail or message text here.
	p.deps.Logger.LogAttrs(context.Background(), level, "event outcome",
		slog.String("event", out.EventType), slog.String("event_id", out.EventID),
		slog.String("source", d.Topic), slog.String("entity_id", out.EntityID),
		slog.String("action", string(status)), slog.Int("attempt", d.Attempt),
		slog.Float64("duration_ms", out.ProcessingMs), slog.String("error", out.Error))
	if p.deps.Recorder != nil {
		p.deps.Recorder.Record(out)
	}
}

// sleep waits for d or the end of ctx.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
