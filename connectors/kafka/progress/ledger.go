package progress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/pipeline"
)

// claimVersion is the value format written by this code.
const claimVersion = 1

// claim is the value of a progress record: the order's current claim (the
// last step that got OrderSend). Its field names are a contract of the
// topic (docs/contract.md), apart from pipeline.OrderStep's, because the
// topic outlives any one version of the code. A value is about 120 bytes
// plus the event id (185 bytes with a 64-character SHA-256 id).
type claim struct {
	V         int       `json:"v"`
	Status    string    `json:"status"`
	Rank      int       `json:"rank"`
	UpdatedAt time.Time `json:"updated_at"`
	EventID   string    `json:"event_id"`
	ClaimedAt time.Time `json:"claimed_at"`
}

// errVersion marks a value written by a newer format this code cannot read.
var errVersion = errors.New("unknown progress value version")

// DecodeClaim reads a progress record's value as the order's claimed step
// (for tests and operators' tools).
func DecodeClaim(orderID string, b []byte) (pipeline.OrderStep, error) {
	var c claim
	if err := json.Unmarshal(b, &c); err != nil {
		return pipeline.OrderStep{}, fmt.Errorf("progress of order %s: %w", orderID, err)
	}
	if c.V != claimVersion {
		return pipeline.OrderStep{}, fmt.Errorf("progress of order %s: v=%d: %w", orderID, c.V, errVersion)
	}
	return pipeline.OrderStep{OrderID: orderID, Status: c.Status, Rank: c.Rank, UpdatedAt: c.UpdatedAt, EventID: c.EventID}, nil
}

func encodeClaim(s pipeline.OrderStep, at time.Time) ([]byte, error) {
	return json.Marshal(claim{V: claimVersion, Status: s.Status, Rank: s.Rank,
		UpdatedAt: s.UpdatedAt.UTC(), EventID: s.EventID, ClaimedAt: at.UTC()})
}

// mergeClaims is the Store's Merge: loading keeps the newest claim by the
// ledger's order (pipeline.OrderStep.After), not merely the last record, so
// an older claim written late (by a member that lost the partition, or a
// write given up on that landed later) cannot move an order backwards while
// both records are uncompacted. An unreadable record is skipped.
func mergeClaims(key string, old, next []byte) []byte {
	n, err := DecodeClaim(key, next)
	if err != nil {
		if old == nil && errors.Is(err, errVersion) {
			return next // a newer format: Claim refuses to decide on it
		}
		return old
	}
	if old == nil {
		return next
	}
	o, err := DecodeClaim(key, old)
	if err != nil || !o.After(n) {
		return next
	}
	return old
}

// Ledger is the Kafka-backed pipeline.OrderLedger: each order's claim is a
// record keyed by order id in a compacted topic (schemas.TopicOrderProgress)
// aligned with evershop.order, so the processor member that owns an order's
// partition holds its claims in memory, loaded before its workers start.
// A Send verdict is written (acks=all) and acknowledged before Claim
// returns; Claim fails, and nothing is sent, when the order's partition is
// not loaded here or the write is not acknowledged.
//
// Memory: one entry per order ever claimed in the member's partitions,
// about 270-290 bytes each with a 64-character event id (measured by
// TestMemoryPerOrder: map entry, key, a 185-byte value): a million orders
// over 2 members cost about 135 MB per member. Compaction keeps the topic
// at one record per order; orders are never forgotten (no tombstones yet),
// so the figure grows with the shop's order count.
type Ledger struct {
	store *Store
	locks *pipeline.KeyLocks
	now   func() time.Time
}

// LedgerConfig configures NewLedger.
type LedgerConfig struct {
	// Topic is the progress topic (schemas.TopicOrderProgress).
	Topic string
	// Aligned are the consumed topics carrying order events whose partition
	// p needs partition p of Topic: evershop.order and the retry tiers.
	Aligned []string
	// Now is the clock of claimed_at; nil means time.Now.
	Now func() time.Time
}

// NewLedger builds the ledger and its store. Register OnAssigned and
// OnRevoked with the processor's consumer; Close after it stopped.
func NewLedger(kcfg kafka.Config, cfg LedgerConfig, log *slog.Logger, reg prometheus.Registerer) (*Ledger, error) {
	st, err := New(kcfg, Config{Topic: cfg.Topic, Aligned: cfg.Aligned, Merge: mergeClaims, Role: "processor-progress"}, log, reg)
	if err != nil {
		return nil, fmt.Errorf("order ledger: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if reg != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shopstream_order_progress_keys",
			Help: "Orders whose ledger claim this member holds in memory (its partitions of the order progress topic; about 270-290 bytes each).",
		}, func() float64 { return float64(st.Keys()) }))
	}
	return &Ledger{store: st, locks: pipeline.NewKeyLocks(), now: cfg.Now}, nil
}

// Store is the ledger's store (tests, metrics).
func (l *Ledger) Store() *Store { return l.store }

// OnAssigned loads an aligned partition (consume.Config.OnAssigned).
func (l *Ledger) OnAssigned(ctx context.Context, topic string, p int32) error {
	return l.store.OnAssigned(ctx, topic, p)
}

// OnRevoked drops an aligned partition (consume.Config.OnRevoked).
func (l *Ledger) OnRevoked(ctx context.Context, topic string, p int32) {
	l.store.OnRevoked(ctx, topic, p)
}

// Close closes the store's client.
func (l *Ledger) Close(context.Context) error {
	l.store.Close()
	return nil
}

// Claim implements pipeline.OrderLedger.
func (l *Ledger) Claim(ctx context.Context, step pipeline.OrderStep) (pipeline.OrderVerdict, error) {
	if err := step.Validate(); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("claim order %s: %w", step.OrderID, err)
	}
	// The processor holds its own per-order lock; this one makes Claim
	// atomic for any caller (a comparison and a write per order at a time).
	unlock, err := l.locks.Lock(ctx, step.OrderID)
	if err != nil {
		return 0, fmt.Errorf("claim order %s: %w", step.OrderID, err)
	}
	defer unlock()
	raw, ok, err := l.store.Get(step.OrderID)
	if err != nil {
		return 0, fmt.Errorf("claim order %s: %w", step.OrderID, err)
	}
	var cur pipeline.OrderStep
	if ok {
		if cur, err = DecodeClaim(step.OrderID, raw); err != nil {
			return 0, err
		}
	}
	v := step.Decide(cur, ok)
	if v != pipeline.OrderSend || (ok && cur.EventID == step.EventID) {
		return v, nil
	}
	b, err := encodeClaim(step, l.now())
	if err != nil {
		return 0, fmt.Errorf("claim order %s: %w", step.OrderID, err)
	}
	err = l.store.Put(ctx, step.OrderID, b)
	if errors.Is(err, ErrOverridden) {
		// Another writer claimed a newer step of this order meanwhile:
		// decide again over the merged claim (never Send: it is newer).
		return l.redecide(step)
	}
	if err != nil {
		return 0, fmt.Errorf("claim order %s: %w", step.OrderID, err)
	}
	return v, nil
}

// ClaimBatch implements pipeline.OrderLedger: the run's verdicts are
// decided over memory and the orders' new claims written in one produce
// (Store.PutBatch: one request per partition, acks=all) before it returns.
// When someone else wrote one of the orders meanwhile, the run is decided
// again over the merged claims (a claim written by this run then holds its
// own event, which is sent; anything older is superseded).
func (l *Ledger) ClaimBatch(ctx context.Context, steps []pipeline.OrderStep) ([]pipeline.OrderVerdict, error) {
	if err := pipeline.ValidateBatch(ctx, steps); err != nil {
		return nil, err
	}
	ids := make([]string, len(steps))
	for i, s := range steps {
		ids[i] = s.OrderID
	}
	unlock, err := l.locks.LockAll(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("claim %d order steps: %w", len(steps), err)
	}
	defer unlock()
	for attempt := 0; ; attempt++ {
		verdicts, claims, err := pipeline.DecideBatch(steps, l.current)
		if err != nil || len(claims) == 0 {
			return verdicts, err
		}
		at := l.now()
		kvs := make([]KV, len(claims))
		for i, c := range claims {
			b, err := encodeClaim(c, at)
			if err != nil {
				return nil, fmt.Errorf("claim order %s: %w", c.OrderID, err)
			}
			kvs[i] = KV{Key: c.OrderID, Value: b}
		}
		err = l.store.PutBatch(ctx, kvs)
		if errors.Is(err, ErrOverridden) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("claim %d order steps: %w", len(steps), err)
		}
		return verdicts, nil
	}
}

// current is the order's claim in memory (ok false: none).
func (l *Ledger) current(orderID string) (pipeline.OrderStep, bool, error) {
	raw, ok, err := l.store.Get(orderID)
	if err != nil || !ok {
		return pipeline.OrderStep{}, false, err
	}
	cur, err := DecodeClaim(orderID, raw)
	if err != nil {
		return pipeline.OrderStep{}, false, err
	}
	return cur, true, nil
}

// redecide is the verdict for step over the order's claim as it is now.
func (l *Ledger) redecide(step pipeline.OrderStep) (pipeline.OrderVerdict, error) {
	raw, ok, err := l.store.Get(step.OrderID)
	if err != nil {
		return 0, fmt.Errorf("claim order %s: %w", step.OrderID, err)
	}
	var cur pipeline.OrderStep
	if ok {
		if cur, err = DecodeClaim(step.OrderID, raw); err != nil {
			return 0, err
		}
	}
	return step.Decide(cur, ok), nil
}
