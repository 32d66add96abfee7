package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// OrderStep is one customer-visible step of an order: the confirmation of
// order.created or the status an order.updated announces.
type OrderStep struct {
	OrderID string
	// Status is the announced status key (NotifiedStatus; "new" for the
	// confirmation). It is informational: the decision uses Rank.
	Status string
	// Rank is the status's place in the lifecycle (OrderRank).
	Rank int
	// UpdatedAt is when the order reached this step: the order row's
	// updated_at, else the envelope timestamp (the sender's clock, the
	// only one that orders one shop's updates).
	UpdatedAt time.Time
	// EventID identifies the event announcing the step.
	EventID string
}

// After reports whether s is strictly newer than o: a later UpdatedAt, or
// the same UpdatedAt and a higher Rank. EverShop stamps whole seconds, so
// two steps often share a time; the lifecycle then orders them.
func (s OrderStep) After(o OrderStep) bool {
	if !s.UpdatedAt.Equal(o.UpdatedAt) {
		return s.UpdatedAt.After(o.UpdatedAt)
	}
	return s.Rank > o.Rank
}

// Validate reports a step no ledger can decide on.
func (s OrderStep) Validate() error {
	switch {
	case s.OrderID == "":
		return errors.New("order step: empty order id")
	case s.EventID == "":
		return fmt.Errorf("order step of order %s: empty event id", s.OrderID)
	}
	return nil
}

// OrderVerdict says what to do with an order step.
type OrderVerdict int

const (
	// OrderSend: the step is newer than every step claimed before for its
	// order, or it is the very event that holds the claim (a retry of the
	// claimed step); send it.
	OrderSend OrderVerdict = iota
	// OrderDuplicate: another event already claimed a step at the same
	// UpdatedAt and Rank: the same news under a different event id.
	OrderDuplicate
	// OrderSuperseded: a newer step was already claimed; sending this one
	// would tell the customer the order went backwards.
	OrderSuperseded
)

func (v OrderVerdict) String() string {
	switch v {
	case OrderSend:
		return "send"
	case OrderDuplicate:
		return "duplicate"
	case OrderSuperseded:
		return "superseded"
	}
	return "unknown"
}

// OrderLedger decides, per order, which steps may reach the customer, so
// that a customer never hears of a step older than one already announced.
//
// Claim compares step with the order's current claim (the last step that got
// OrderSend) and, atomically with the comparison:
//
//   - no claim yet, or step.After(claim): OrderSend, and step becomes the
//     claim;
//   - step.EventID == claim.EventID: OrderSend, claim unchanged (a retry of
//     the claimed step: its earlier attempt may have failed or crashed
//     before the message left, so it must be allowed to try again; the
//     inbox's Idempotency-Key, the event id, absorbs a second post);
//   - same UpdatedAt and Rank as the claim, another event: OrderDuplicate;
//   - otherwise (older): OrderSuperseded.
//
// Duplicate and Superseded change nothing. The event-id rule is checked
// first, so an event's retry is sent whatever its status string says.
//
// Claim-before-send: an OrderSend verdict is durable before Claim returns,
// so that after a crash, a restart or a rebalance no older step can be sent
// after this one (the claim may then be "wasted" if the send fails for good,
// which only means an older step stays unsent). Claim returns an error when
// it cannot decide durably (state not loaded for the order's partition, a
// write not acknowledged, ctx done); the caller must then not send, and
// delivers the event again later. Claims of different orders are
// independent. Implementations are safe for concurrent use; callers hold a
// per-order lock (KeyLocks) across Claim and the send so that sends leave
// in claim order.
//
// Implementations: MemoryOrderLedger (one process, for tests and dev); the
// Kafka one keeps claims in a compacted topic keyed by order id. Both pass
// pipelinetest.LedgerConformance.
//
// ClaimBatch decides a run of steps (one partition's order events, in
// offset order) as successive Claims would, and makes the new claims
// durable with one write before it returns: verdicts[i] is what Claim
// (steps[i]) would return after steps[:i]. Only each order's last claim
// of the run is written; an earlier Send of the same order is covered by
// it (it is older, so nothing older than it can follow it after a crash).
// On an error nothing is decided and the caller sends nothing (the claims
// may have been written; a retry of the run then finds them: the newest of
// each order is sent again, the older ones of the run are superseded).
type OrderLedger interface {
	Claim(ctx context.Context, step OrderStep) (OrderVerdict, error)
	ClaimBatch(ctx context.Context, steps []OrderStep) ([]OrderVerdict, error)
}

// DecideBatch is Decide over a run of steps: verdicts[i] is steps[i]'s
// verdict once steps[:i] were decided, over the orders' current claims
// (current reports an order's, ok=false: none). claims are the new claims
// to write, one per order whose claim the run moved (its last Send with
// another event id), in the order the orders first appear.
func DecideBatch(steps []OrderStep, current func(orderID string) (OrderStep, bool, error)) (verdicts []OrderVerdict, claims []OrderStep, err error) {
	type state struct {
		cur     OrderStep
		ok      bool
		changed int // index in claims + 1; 0: unchanged
	}
	orders := make(map[string]*state, len(steps))
	verdicts = make([]OrderVerdict, len(steps))
	for i, s := range steps {
		st := orders[s.OrderID]
		if st == nil {
			cur, ok, err := current(s.OrderID)
			if err != nil {
				return nil, nil, err
			}
			st = &state{cur: cur, ok: ok}
			orders[s.OrderID] = st
		}
		v := s.Decide(st.cur, st.ok)
		verdicts[i] = v
		if v != OrderSend || (st.ok && st.cur.EventID == s.EventID) {
			continue
		}
		st.cur, st.ok = s, true
		if st.changed == 0 {
			claims = append(claims, s)
			st.changed = len(claims)
		} else {
			claims[st.changed-1] = s
		}
	}
	return verdicts, claims, nil
}

// ValidateBatch is what ClaimBatch checks before it decides anything: every
// step valid and ctx not done.
func ValidateBatch(ctx context.Context, steps []OrderStep) error {
	for _, s := range steps {
		if err := s.Validate(); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("claim %d order steps: %w", len(steps), err)
	}
	return nil
}

// Decide is the ledger rule as a pure function: the verdict for step when
// the order's current claim is cur (ok=false: none). Implementations call it
// so that they cannot drift apart; on OrderSend with a different event id,
// step becomes the new claim.
func (s OrderStep) Decide(cur OrderStep, ok bool) OrderVerdict {
	switch {
	case !ok:
		return OrderSend
	case s.EventID == cur.EventID:
		return OrderSend
	case s.After(cur):
		return OrderSend
	case s.UpdatedAt.Equal(cur.UpdatedAt) && s.Rank == cur.Rank:
		return OrderDuplicate
	}
	return OrderSuperseded
}

// MemoryOrderLedger is an OrderLedger in process memory. It forgets
// everything on restart and is not shared between processes, so it only
// protects a single-process deployment (tests, `shopstream dev`); production
// uses the Kafka-backed ledger. It holds one entry per order ever claimed.
type MemoryOrderLedger struct {
	mu     sync.Mutex
	claims map[string]OrderStep
}

// NewMemoryOrderLedger returns an empty ledger.
func NewMemoryOrderLedger() *MemoryOrderLedger {
	return &MemoryOrderLedger{claims: map[string]OrderStep{}}
}

// Claim implements OrderLedger.
func (l *MemoryOrderLedger) Claim(ctx context.Context, step OrderStep) (OrderVerdict, error) {
	if err := step.Validate(); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("claim order %s: %w", step.OrderID, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cur, ok := l.claims[step.OrderID]
	v := step.Decide(cur, ok)
	if v == OrderSend && (!ok || cur.EventID != step.EventID) {
		l.claims[step.OrderID] = step
	}
	return v, nil
}

// ClaimBatch implements OrderLedger.
func (l *MemoryOrderLedger) ClaimBatch(ctx context.Context, steps []OrderStep) ([]OrderVerdict, error) {
	if err := ValidateBatch(ctx, steps); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	verdicts, claims, err := DecideBatch(steps, func(id string) (OrderStep, bool, error) {
		s, ok := l.claims[id]
		return s, ok, nil
	})
	if err != nil {
		return nil, err
	}
	for _, c := range claims {
		l.claims[c.OrderID] = c
	}
	return verdicts, nil
}

// Current returns the order's current claim, for tests and debugging.
func (l *MemoryOrderLedger) Current(orderID string) (OrderStep, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.claims[orderID]
	return s, ok
}
