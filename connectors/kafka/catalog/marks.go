package catalog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// Marks is the processor's pipeline.CatalogMarker: it makes a product
// event's change durable (in the compacted state topic, when that is the
// catalog source) and hands a "catalog is dirty" mark, carrying the event,
// to the single-partition sync topic.
type Marks struct {
	prod  *kafka.Producer
	state StateWriter
	now   func() time.Time
}

// StateWriter makes a product event's change durable (State does).
type StateWriter interface {
	Apply(ctx context.Context, ev pipeline.Event) error
}

// NewMarks builds the marker; state is nil when the catalog is read from
// EverShop's admin API.
func NewMarks(prod *kafka.Producer, state StateWriter, now func() time.Time) *Marks {
	if now == nil {
		now = time.Now
	}
	return &Marks{prod: prod, state: state, now: now}
}

// MarkCatalog returns once both writes are acknowledged.
func (m *Marks) MarkCatalog(ctx context.Context, d pipeline.Delivery) error {
	if m.state != nil {
		if err := m.state.Apply(ctx, d.Event); err != nil {
			return fmt.Errorf("catalog state: %w", err)
		}
	}
	rec := kafka.DeliveryRecord(schemas.TopicCatalogSync, d, nil, m.now())
	rec.Key = []byte("catalog")
	return m.prod.Produce(ctx, rec)
}

// RegenerationRequest is the mark an operator's "regenerate now" writes to
// the sync topic: a catalog.regenerate event carrying who asked and when.
// The catalog owner coalesces it with any product marks of its window and
// runs the one regeneration, where every other runs (one owner, one upload
// at a time), and records its outcome like a product event's. Produce it
// with acks=all and wait.
func RegenerationRequest(who string, now time.Time) *kgo.Record {
	raw := make([]byte, 8)
	_, _ = rand.Read(raw)                                                                                  // crypto/rand never fails on Linux
	body, _ := json.Marshal(map[string]string{"requested_by": who, "requested_at": kafka.FormatTime(now)}) // strings only: cannot fail
	ev := pipeline.Event{ID: "catalog-regenerate-" + hex.EncodeToString(raw), Type: pipeline.CatalogRegenerate,
		EntityID: "catalog", ReceivedAt: now, Body: body}
	rec := kafka.DeliveryRecord(schemas.TopicCatalogSync, pipeline.Delivery{Event: ev, Topic: schemas.TopicCatalogSync}, nil, now)
	rec.Key = []byte("catalog")
	return rec
}
