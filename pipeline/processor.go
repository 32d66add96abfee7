package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shopstream/shopstream/internal/clock"
)

// ProcessorConfig holds the feature flags and the retry policy.
type ProcessorConfig struct {
	Retry                 RetryPolicy
	SendOrderConfirmation bool
	SendWelcome           bool
	AutoSyncCatalog       bool
	// HoldAlertAfter sends a "needs a person" alert (ProcessorDeps.
	// AlertSender) once an event has been held through an inbox outage this
	// long; 0 never.
	HoldAlertAfter time.Duration
}

// ProcessorDeps are the processor's collaborators.
type ProcessorDeps struct {
	Notifier  Notifier
	Catalog   CatalogMarker
	Forwarder Forwarder
	// Ledger decides which order steps may be sent (order_ledger.go). Nil
	// means a MemoryOrderLedger, which protects one process only.
	Ledger   OrderLedger
	Recorder OutcomeRecorder // optional
	// Breaker is the inbox's; nil means one with default thresholds and
	// the retry policy's Retry-After clamp.
	Breaker *Breaker
	Seen    *SeenSet // optional
	// Alerts evaluates product events for store alerts and AlertSender
	// delivers them (alert_engine.go); both nil: no alerts. AlertSender
	// alone (without Alerts) still gets the "needs a person" alerts.
	Alerts      *AlertEngine
	AlertSender AlertSender
	// AlertDispatch delivers alert messages that come back from a retry
	// tier (or a DLQ replay) to their channel; nil: such records are
	// dead-lettered (no channel here).
	AlertDispatch *AlertDispatch
	Observer      RetryObserver // optional
	Logger        *slog.Logger  // optional
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Processor routes each delivery to its action and makes its outcome
// durable: done, forwarded to a retry tier, or dead-lettered. It is safe for
// concurrent use by one goroutine per partition.
type Processor struct {
	cfg   ProcessorConfig
	deps  ProcessorDeps
	locks *KeyLocks
	holds *holdSet
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
		deps.Breaker = NewBreaker(BreakerConfig{RetryAfterMax: cfg.Retry.EffectiveRetryAfterMax()})
	}
	if deps.Ledger == nil {
		deps.Ledger = NewMemoryOrderLedger()
	}
	if deps.Seen == nil {
		deps.Seen = NewSeenSet(DefaultSeenCapacity)
	}
	if deps.Observer == nil {
		deps.Observer = nopRetryObserver{}
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Processor{cfg: cfg, deps: deps, locks: NewKeyLocks(), holds: newHoldSet(deps.Observer)}, nil
}

// Handle processes one delivery. It returns nil once the delivery's outcome
// is durable, so the caller may mark its offset; an error (the context ended,
// Kafka refused the forward, the order ledger could not decide) means "not
// done, deliver again".
//
// The first delivery of an event from its source topic (attempt 1) first
// records a StatusReceived outcome: the source record is the durable proof
// of receipt, and the outcome writer is flushed before the offset commits.
func (p *Processor) Handle(ctx context.Context, d Delivery) error {
	start := p.deps.Now()
	p.received(d)
	if p.deps.Seen.Seen(d.Event.ID) {
		p.record(ctx, d, start, StatusDuplicate, nil)
		return nil
	}
	act, err := p.plan(d.Event)
	return p.act(ctx, d, start, act, err, nil)
}

// act carries out a delivery's planned action (planErr: it could not be
// planned). decided, when set, is the order step's verdict, claimed ahead
// by HandleBatch, which holds the order's lock.
func (p *Processor) act(ctx context.Context, d Delivery, start time.Time, act action, planErr error, decided *OrderVerdict) error {
	if planErr != nil {
		return p.fail(ctx, d, start, planErr)
	}
	switch {
	case act.skip != "":
		p.deps.Seen.Add(d.Event.ID)
		p.record(ctx, d, start, StatusSkipped, errors.New(act.skip))
		return nil
	case act.catalog || act.alerts:
		// The sync records the final outcome once the knowledge base has
		// the new catalog; here the change only has to be durable.
		if act.catalog {
			err := p.deps.Catalog.MarkCatalog(ctx, d)
			if IsPermanent(err) {
				return p.fail(ctx, d, start, err)
			}
			if err != nil {
				return err
			}
		}
		if act.alerts {
			return p.productAlerts(ctx, d, start, !act.catalog)
		}
		return nil
	case act.step != nil && decided != nil:
		return p.sendDecided(ctx, d, start, *act.step, act.note, *decided)
	case act.step != nil:
		return p.sendStep(ctx, d, start, *act.step, act.note)
	case act.delivery != nil:
		return p.deliverAlert(ctx, d, start, *act.delivery)
	}
	return p.send(ctx, d, start, act.note)
}

// sendStep sends an order step if the ledger lets it. The order's lock is
// held across the claim and the send (including a hold through an outage
// and the forward on failure), so two workers of this process never race
// one order and its messages leave in claim order.
func (p *Processor) sendStep(ctx context.Context, d Delivery, start time.Time, step OrderStep, n Notification) error {
	unlock, err := p.locks.Lock(ctx, step.OrderID)
	if err != nil {
		return fmt.Errorf("lock order %s: %w", step.OrderID, err)
	}
	defer unlock()
	verdict, err := p.deps.Ledger.Claim(ctx, step)
	if err != nil {
		return fmt.Errorf("claim %s of order %s: %w", step.Status, step.OrderID, err)
	}
	return p.sendDecided(ctx, d, start, step, n, verdict)
}

// sendDecided acts on the ledger's verdict for step; the caller holds the
// order's lock.
func (p *Processor) sendDecided(ctx context.Context, d Delivery, start time.Time, step OrderStep, n Notification, verdict OrderVerdict) error {
	switch verdict {
	case OrderSuperseded:
		p.deps.Seen.Add(d.Event.ID)
		p.record(ctx, d, start, StatusSuperseded, fmt.Errorf("a newer step of order %s than %s was already sent", step.OrderID, step.Status))
		return nil
	case OrderDuplicate:
		p.deps.Seen.Add(d.Event.ID)
		p.record(ctx, d, start, StatusDuplicate, fmt.Errorf("step %s of order %s at %s was already sent", step.Status, step.OrderID, step.UpdatedAt.Format(time.RFC3339)))
		return nil
	}
	return p.send(ctx, d, start, n)
}

// send delivers n and records the outcome, or forwards the failure.
func (p *Processor) send(ctx context.Context, d Delivery, start time.Time, n Notification) error {
	if err := p.notify(ctx, d, n); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return p.fail(ctx, d, start, err)
	}
	p.deps.Seen.Add(d.Event.ID)
	p.emit(ctx, d, withMessage(NewOutcome(d, StatusCompleted, nil, start, p.deps.Now()), n.Text))
	return nil
}

func withMessage(o Outcome, text string) Outcome { o.Message = text; return o }

// DeadLetter sends a delivery that cannot be processed at all (its record is
// not a webhook) straight to the DLQ.
func (p *Processor) DeadLetter(ctx context.Context, d Delivery, cause error) error {
	p.received(d)
	return p.fail(ctx, d, p.deps.Now(), Permanent(cause))
}

// Holding returns how many events are held through a downstream outage now
// and the retry start (Delivery.Since) of the oldest; for gauges read at
// scrape time.
func (p *Processor) Holding() (count int, oldest time.Time) { return p.holds.state() }

// errHeldTooLong ends a hold that reached the retry max age.
var errHeldTooLong = errors.New("held through an inbox outage until the retry max age")

// notify delivers through the inbox's breaker. An isolated transient failure
// is returned (the event climbs the retry tiers); while the inbox is down for
// everything the event is held here and probed, spending none of its retry
// budget, so an outage ends with events delivered late, not dead-lettered.
// A hold ends at the retry max age (the event is then dead-lettered), so a
// held partition never nears its topic's retention.
func (p *Processor) notify(ctx context.Context, d Delivery, n Notification) error {
	held, alerted := false, false
	var heldAt time.Time
	defer func() {
		if held {
			p.holds.release(d.Event.ID)
		}
	}()
	since := d.Since()
	for {
		now := p.deps.Now()
		ok, wait := p.deps.Breaker.Allow(now)
		if !ok {
			if p.cfg.Retry.Expired(since, now) {
				return Retryable(errHeldTooLong, 0)
			}
			if !held {
				held, heldAt = true, now
				p.holds.hold(d.Event.ID, since)
				p.deps.Logger.Warn("inbox outage: holding event", "event_id", n.EventID, "retry_in", wait.String())
			}
			if h := now.Sub(heldAt); !alerted && p.cfg.HoldAlertAfter > 0 && h >= p.cfg.HoldAlertAfter {
				alerted = true
				p.opsAlert(ctx, d, HeldAlert(d, h, now))
			}
			if !since.IsZero() {
				wait = max(min(wait, since.Add(p.cfg.Retry.EffectiveMaxAge()).Sub(now)), 0)
			}
			if err := clock.Sleep(ctx, wait); err != nil {
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
	now := p.deps.Now()
	dec := p.cfg.Retry.Decide(FailedAttempt{Err: cause, Attempt: d.Attempt, Since: d.Since(), Now: now})
	age := time.Duration(0)
	if since := d.Since(); !since.IsZero() {
		age = now.Sub(since)
	}
	if dec.DeadLetter {
		if err := p.deps.Forwarder.DeadLetter(ctx, d, fmt.Errorf("%s: %w", dec.Reason, cause)); err != nil {
			return fmt.Errorf("dead-letter %s: %w", d.Event.ID, err)
		}
		// Not added to Seen: an operator may replay it once the cause is
		// fixed, and it must then be delivered.
		p.deps.Observer.DeadLettered(dec.Cause, age)
		p.record(ctx, d, start, StatusDead, fmt.Errorf("%s: %w", dec.Reason, cause))
		if d.Event.Type != AlertDeliveryType {
			// An alert that dies raises no alert about itself (a channel
			// refusing everything would loop); the alert rules see it.
			p.opsAlert(ctx, d, DeadLetterAlert(d, fmt.Errorf("%s: %w", dec.Reason, cause), now))
		}
		return nil
	}
	if err := p.deps.Forwarder.Retry(ctx, d, dec, cause); err != nil {
		return fmt.Errorf("forward %s to retry tier %d: %w", d.Event.ID, dec.Tier+1, err)
	}
	p.deps.Observer.Retried(dec.Tier, age)
	p.record(ctx, d, start, StatusRetrying, cause)
	return nil
}

// received records an event's StatusReceived outcome on its first delivery
// from a source topic.
func (p *Processor) received(d Delivery) {
	if d.Attempt <= 1 && p.deps.Recorder != nil {
		p.deps.Recorder.Record(NewOutcome(d, StatusReceived, nil, d.Event.ReceivedAt, d.Event.ReceivedAt))
	}
}

func (p *Processor) record(ctx context.Context, d Delivery, start time.Time, status Status, cause error) {
	p.emit(ctx, d, NewOutcome(d, status, cause, start, p.deps.Now()))
}

// emit logs an outcome and hands it to the recorder.
func (p *Processor) emit(ctx context.Context, d Delivery, out Outcome) {
	status := out.Status
	level := slog.LevelInfo
	if status == StatusDead || status == StatusRetrying {
		level = slog.LevelWarn
	}
	// Operators filter on these fields; no e-mail or message text here.
	p.deps.Logger.LogAttrs(ctx, level, "event outcome",
		slog.String("event", out.EventType), slog.String("event_id", out.EventID),
		slog.String("source", d.Topic), slog.String("entity_id", out.EntityID),
		slog.String("action", string(status)), slog.Int("attempt", d.Attempt),
		slog.Float64("duration_ms", out.ProcessingMs), slog.String("error", out.Error))
	if p.deps.Recorder != nil {
		p.deps.Recorder.Record(out)
	}
}
