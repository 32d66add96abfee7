package pipeline

import (
	"context"
	"fmt"
	"sync"
)

// AlertStateStore keeps each product's AlertState durably. Load returns
// nil for a product never seen; Save returns once the state is durable.
// Both fail (transiently) when the product's partition is not loaded here.
type AlertStateStore interface {
	Load(ctx context.Context, productID string) (*AlertState, error)
	Save(ctx context.Context, productID string, s AlertState) error
}

// AlertSender delivers one alert to its channels; nil means every channel
// has it. Delivery must be idempotent by Alert.ID.
type AlertSender interface {
	SendAlert(ctx context.Context, a Alert) error
}

// AlertEngine evaluates product events against the stored state: the
// state (with the alerts it fired) is saved BEFORE the alerts are handed
// on, so a crash in between re-sends the same alerts (same ids) on the
// redelivery instead of firing new ones or losing them.
type AlertEngine struct {
	rules AlertRules
	store AlertStateStore
	locks *KeyedMutex
}

// NewAlertEngine builds the engine.
func NewAlertEngine(rules AlertRules, store AlertStateStore) *AlertEngine {
	return &AlertEngine{rules: rules, store: store, locks: NewKeyedMutex(0)}
}

// Rules are the engine's rules.
func (e *AlertEngine) Rules() AlertRules { return e.rules }

// Evaluate applies a product event and returns the alerts to send. A
// redelivery of the event the state holds returns the alerts it fired
// again; an older event returns none. Invalid data is Permanent; a store
// failure is transient.
func (e *AlertEngine) Evaluate(ctx context.Context, ev Event) ([]Alert, error) {
	facts, err := ProductAlertFacts(ev)
	if err != nil {
		return nil, Permanent(err)
	}
	unlock, err := e.locks.Lock(ctx, facts.ID)
	if err != nil {
		return nil, fmt.Errorf("alerts: lock product %s: %w", facts.ID, err)
	}
	defer unlock()
	prev, err := e.store.Load(ctx, facts.ID)
	if err != nil {
		return nil, fmt.Errorf("alerts: state of product %s: %w", facts.ID, err)
	}
	verdict, next, alerts := EvaluateAlerts(e.rules, prev, ev, facts)
	if verdict != AlertApplied {
		return alerts, nil
	}
	if err := e.store.Save(ctx, facts.ID, next); err != nil {
		return nil, fmt.Errorf("alerts: save state of product %s: %w", facts.ID, err)
	}
	return alerts, nil
}

// MemoryAlertStore is an AlertStateStore for one process (tests, and the
// reference for the durable one).
type MemoryAlertStore struct {
	mu     sync.Mutex
	states map[string]AlertState
}

// NewMemoryAlertStore returns an empty store.
func NewMemoryAlertStore() *MemoryAlertStore {
	return &MemoryAlertStore{states: map[string]AlertState{}}
}

// Load implements AlertStateStore.
func (m *MemoryAlertStore) Load(_ context.Context, id string) (*AlertState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.states[id]
	if !ok {
		return nil, nil
	}
	return &s, nil
}

// Save implements AlertStateStore.
func (m *MemoryAlertStore) Save(_ context.Context, id string, s AlertState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.states[id] = s
	return nil
}
