package pipeline

import (
	"context"
	"fmt"
)

// HandleBatch processes a run of one partition's deliveries, in order, as
// successive Handle calls would, with one ledger write (OrderLedger.
// ClaimBatch) for the order steps of each stretch of the run in which no
// order repeats, instead of one write per step: the ledger's acks=all
// write is the processor's dearest step, and a backlog of distinct orders
// shares one per run. It returns how many leading deliveries have a
// durable outcome (the caller marks them) and an error for the first that
// has not; the caller hands the rest over again.
//
// A stretch ends where an order repeats, so every claim written is the
// step its order sends next: after a failure or a crash mid-run the rest
// is decided exactly as one Handle at a time would decide it (a claimed
// step is sent again, under its event id, which the inbox's
// Idempotency-Key absorbs), and no step is skipped that Handle would send.
//
// The locks of the stretch's orders are held from the claim until its last
// delivery was handled, so no other worker of this process claims or sends
// a step of those orders in between: messages still leave in claim order.
// If the claim fails, nothing of the stretch is sent or recorded.
func (p *Processor) HandleBatch(ctx context.Context, ds []Delivery) (int, error) {
	run := make([]plannedDelivery, len(ds))
	for i, d := range ds {
		run[i].d = d
		if p.deps.Seen.Seen(d.Event.ID) {
			continue
		}
		run[i].act, run[i].err = p.plan(d.Event)
		run[i].planned = true
	}
	for start := 0; start < len(run); {
		end := start
		orders := map[string]bool{}
		for ; end < len(run); end++ {
			if s := run[end].step(); s != nil {
				if orders[s.OrderID] {
					break
				}
				orders[s.OrderID] = true
			}
		}
		n, err := p.handleStretch(ctx, run[start:end])
		if err != nil {
			return start + n, err
		}
		start = end
	}
	return len(ds), nil
}

// plannedDelivery is a delivery of a run with its action planned ahead.
type plannedDelivery struct {
	d       Delivery
	act     action
	err     error
	planned bool // false: Seen when the run began
	verdict OrderVerdict
}

// step is the order step the delivery claims, or nil.
func (pd *plannedDelivery) step() *OrderStep {
	if !pd.planned || pd.err != nil || pd.act.skip != "" {
		return nil
	}
	return pd.act.step
}

// handleStretch claims the order steps of a stretch in which no order
// repeats, then handles its deliveries in order.
func (p *Processor) handleStretch(ctx context.Context, run []plannedDelivery) (int, error) {
	var steps []OrderStep
	var at []int
	for i := range run {
		if s := run[i].step(); s != nil {
			steps = append(steps, *s)
			at = append(at, i)
		}
	}
	if len(steps) > 0 {
		ids := make([]string, len(steps))
		for i, s := range steps {
			ids[i] = s.OrderID
		}
		unlock, err := p.locks.LockAll(ctx, ids)
		if err != nil {
			return 0, fmt.Errorf("lock %d orders: %w", len(ids), err)
		}
		defer unlock()
		verdicts, err := p.deps.Ledger.ClaimBatch(ctx, steps)
		if err != nil {
			return 0, fmt.Errorf("claim %d order steps: %w", len(steps), err)
		}
		for k, i := range at {
			run[i].verdict = verdicts[k]
		}
	}
	for i := range run {
		pd := &run[i]
		start := p.deps.Now()
		p.received(pd.d)
		if !pd.planned || p.deps.Seen.Seen(pd.d.Event.ID) {
			// Seen before the run (even if the bounded set forgot it
			// since), or an earlier delivery of the run carried the
			// same event.
			p.record(ctx, pd.d, start, StatusDuplicate, nil)
			continue
		}
		var decided *OrderVerdict
		if pd.step() != nil {
			decided = &pd.verdict
		}
		if err := p.act(ctx, pd.d, start, pd.act, pd.err, decided); err != nil {
			return i, err
		}
	}
	return len(run), nil
}
