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
// per-order lock (KeyedMutex) across Claim and the send so that sends leave
// in claim order.
//
// Implementations: MemoryOrderLedger (one process, for tests and dev); the
// Kafka one keeps claims in a compacted topic keyed by order id. Both pass
// pipelinetest.LedgerConformance.
type OrderLedger interface {
	Claim(ctx context.Context, step OrderStep) (OrderVerdict, error)
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

// Current returns the order's current claim, for tests and debugging.
func (l *MemoryOrderLedger) Current(orderID string) (OrderStep, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.claims[orderID]
	return s, ok
}
