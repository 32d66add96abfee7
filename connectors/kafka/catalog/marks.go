package catalog

import (
	"context"
	"fmt"
	"time"

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
