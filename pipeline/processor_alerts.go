package pipeline

import (
	"context"
	"time"
)

// productAlerts evaluates a product event for store alerts and sends what
// it fires. The state is saved before the sends (AlertEngine), so a send
// that fails is retried in place with the same event, which sends the same
// alerts again (same ids, idempotent channels); an older event fires
// nothing. complete records the event's own completed outcome (when
// no catalog sync will).
func (p *Processor) productAlerts(ctx context.Context, d Delivery, start time.Time, complete bool) error {
	alerts, err := p.deps.Alerts.Evaluate(ctx, d.Event)
	if IsPermanent(err) {
		return p.fail(ctx, d, start, err)
	}
	if err != nil {
		return err
	}
	for _, a := range alerts {
		sent := p.deps.Now()
		if err := p.deps.AlertSender.SendAlert(ctx, a); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if IsPermanent(err) {
				p.recordAlert(d, a, sent, StatusDead, err)
				return p.fail(ctx, d, start, err)
			}
			// Transient (the alerts topic unreachable): retry this event in
			// place, as a catalog mark that fails does. Forwarding it to a
			// tier would let a newer event of the product be applied first,
			// and the retried event, older by then, would fire nothing: its
			// alert, already in the saved state, would be lost.
			return err
		}
		p.recordAlert(d, a, sent, StatusCompleted, nil)
	}
	if complete {
		p.deps.Seen.Add(d.Event.ID)
		p.record(ctx, d, start, StatusCompleted, nil)
	}
	return nil
}

// opsAlert sends a "needs a person" alert. It is best effort: the event's
// own outcome is already durable, and an alert channel that fails must not
// hold the partition; the failure is logged and recorded.
func (p *Processor) opsAlert(ctx context.Context, d Delivery, a Alert) {
	if p.deps.AlertSender == nil {
		return
	}
	start := p.deps.Now()
	if err := p.deps.AlertSender.SendAlert(ctx, a); err != nil {
		p.deps.Logger.Warn("needs-a-person alert not delivered", "alert", a.ID, "trigger", string(a.Trigger), "event_id", d.Event.ID, "error", err)
		p.recordAlert(d, a, start, StatusDead, err)
		return
	}
	p.recordAlert(d, a, start, StatusCompleted, nil)
}

// recordAlert records an alert's outcome row: event_type alert.<trigger>,
// event_id the alert id, entity_id the product (or the failed event's
// entity), with the trigger and the old and new values.
func (p *Processor) recordAlert(d Delivery, a Alert, start time.Time, status Status, cause error) {
	if p.deps.Recorder == nil {
		return
	}
	p.deps.Recorder.Record(NewAlertOutcome(d, a, status, cause, start, p.deps.Now()))
}

// NewAlertOutcome is the outcome row of alert a, raised while handling d.
func NewAlertOutcome(d Delivery, a Alert, status Status, cause error, start, end time.Time) Outcome {
	ad := d
	ad.Event.ID, ad.Event.Type, ad.Event.EntityID = a.ID, AlertEventType(a.Trigger), a.ProductID
	out := NewOutcome(ad, status, cause, start, end)
	out.AlertTrigger, out.AlertOld, out.AlertNew = string(a.Trigger), a.Old, a.New
	return out
}

// deliverAlert sends an alert message that came back from a retry tier (or
// a DLQ replay) to its one channel, under the same retry policy as events:
// a failure goes to the next tier or the DLQ. A webhook delivery that falls
// in the quiet hours is deferred to their end.
func (p *Processor) deliverAlert(ctx context.Context, d Delivery, start time.Time, m AlertDelivery) error {
	deferred, err := p.deps.AlertDispatch.Dispatch(ctx, m, p.deps.Now())
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return p.fail(ctx, d, start, err)
	}
	status := StatusCompleted
	if deferred {
		// Not delivered: the morning's attempt may fail and come back
		// through the tiers under the same id, which must not then look
		// like a duplicate.
		status = StatusDeferred
	} else {
		p.deps.Seen.Add(d.Event.ID)
	}
	p.record(ctx, d, start, status, nil)
	return nil
}
