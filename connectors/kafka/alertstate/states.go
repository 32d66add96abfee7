// Package alertstate keeps the store alerts' per-product state
// (pipeline.AlertState) durable in a compacted topic, partition-aligned with
// evershop.product, on the order ledger's store (connectors/kafka/progress).
package alertstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/progress"
	"github.com/shopstream/shopstream/pipeline"
)

// stateVersion is the value format written by this code.
const stateVersion = 1

// value is a record of the alert state topic: one product's
// pipeline.AlertState with a format version. The topic outlives any one
// version of the code; a newer format is refused rather than misread.
type value struct {
	V int `json:"v"`
	pipeline.AlertState
}

var errFormat = errors.New("unknown alert state format")

func decode(productID string, b []byte) (pipeline.AlertState, error) {
	var v value
	if err := json.Unmarshal(b, &v); err != nil {
		return pipeline.AlertState{}, fmt.Errorf("alert state of product %s: %w", productID, err)
	}
	if v.V != stateVersion {
		return pipeline.AlertState{}, fmt.Errorf("alert state of product %s: v=%d: %w", productID, v.V, errFormat)
	}
	return v.AlertState, nil
}

// merge keeps the newest state of a key while a partition loads: a state
// written late by a member that lost the partition must not move a product
// back (which could fire a crossing twice). An unreadable record is
// skipped.
func merge(key string, old, next []byte) []byte {
	n, err := decode(key, next)
	if err != nil {
		if old == nil && errors.Is(err, errFormat) {
			return next // Load refuses to decide on it
		}
		return old
	}
	if old == nil {
		return next
	}
	o, err := decode(key, old)
	if err != nil || !o.NewerThan(n) {
		return next
	}
	return old
}

// Config configures NewStates.
type Config struct {
	// Topic is the compacted state topic (schemas.TopicAlertState).
	Topic string
	// Aligned are the consumed topics carrying product events whose
	// partition p needs partition p of Topic: evershop.product and the
	// retry tiers.
	Aligned []string
}

// States is the durable pipeline.AlertStateStore: each product's alert
// state is a record keyed by product id in a compacted topic aligned with
// evershop.product, loaded by the member that owns the partition before its
// worker starts (OnAssigned), written (acks=all) before the event's offset
// is marked, dropped on revoke. Memory: one entry per product of the
// member's partitions, about 320 bytes (key, a ~250-byte JSON value, map
// overhead): 100,000 products cost 31 MiB (BenchmarkStateMemory), spread
// over the members that own their partitions.
type States struct{ store *progress.Store }

// NewStates builds the store and its writing client.
func NewStates(kcfg kafka.Config, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*States, error) {
	st, err := progress.New(kcfg, progress.Config{Topic: cfg.Topic, Aligned: cfg.Aligned, Merge: merge, Role: "processor-alert-state"}, log, reg)
	if err != nil {
		return nil, fmt.Errorf("alert state: %w", err)
	}
	return &States{store: st}, nil
}

// OnAssigned loads an aligned partition (consume.Config.OnAssigned).
func (s *States) OnAssigned(ctx context.Context, topic string, p int32) error {
	return s.store.OnAssigned(ctx, topic, p)
}

// OnRevoked drops an aligned partition (consume.Config.OnRevoked).
func (s *States) OnRevoked(ctx context.Context, topic string, p int32) {
	s.store.OnRevoked(ctx, topic, p)
}

// Close closes the store's client.
func (s *States) Close(context.Context) error {
	s.store.Close()
	return nil
}

// Keys is how many products the loaded partitions hold.
func (s *States) Keys() int { return s.store.Keys() }

// Load implements pipeline.AlertStateStore.
func (s *States) Load(_ context.Context, productID string) (*pipeline.AlertState, error) {
	raw, ok, err := s.store.Get(productID)
	if err != nil || !ok {
		return nil, err
	}
	st, err := decode(productID, raw)
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// Save implements pipeline.AlertStateStore.
func (s *States) Save(ctx context.Context, productID string, st pipeline.AlertState) error {
	b, err := encode(st)
	if err != nil {
		return pipeline.Permanentf("alert state of product %s: %w", productID, err)
	}
	return s.store.Put(ctx, productID, b)
}

func encode(st pipeline.AlertState) ([]byte, error) {
	return json.Marshal(value{V: stateVersion, AlertState: st})
}
