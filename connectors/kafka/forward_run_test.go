package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

type runInbox struct {
	mu   sync.Mutex
	sent []string
}

func (f *runInbox) Notify(_ context.Context, n pipeline.Notification) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, n.EventID)
	return nil
}

type runForwarder struct {
	mu   sync.Mutex
	dead []int64 // offsets dead-lettered
	down bool    // DeadLetter fails
}

func (f *runForwarder) Retry(context.Context, pipeline.Delivery, pipeline.RetryDecision, error) error {
	return nil
}

func (f *runForwarder) DeadLetter(_ context.Context, d pipeline.Delivery, _ error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.New("DLQ: broker down")
	}
	f.dead = append(f.dead, d.Offset)
	return nil
}

func (f *runForwarder) MarkCatalog(context.Context, pipeline.Delivery) error { return nil }

func orderRecord(off int64, id string, order int) *kgo.Record {
	at := time.Date(2026, 11, 21, 15, 0, 0, 0, time.UTC).Format(time.RFC3339)
	body := fmt.Sprintf(`{"event":"order.updated","timestamp":%q,"data":{"order_id":%d,"customer_email":"ana@example.com","status":"shipped","previous_status":"processing","updated_at":%q}}`, at, order, at)
	return &kgo.Record{Topic: schemas.TopicOrder, Offset: off, Key: fmt.Append(nil, order), Value: []byte(body),
		Headers: []kgo.RecordHeader{{Key: schemas.HeaderEventID, Value: []byte(id)}, {Key: schemas.HeaderEventType, Value: []byte("order.updated")}}}
}

// TestProcessorRunHandler: a record that is not a webhook goes to the DLQ
// between its neighbours' runs, every other record is handled, and when the
// dead letter cannot be written the handler reports the records before it.
func TestProcessorRunHandler(t *testing.T) {
	inbox, fwd := &runInbox{}, &runForwarder{}
	proc, err := pipeline.NewProcessor(pipeline.ProcessorConfig{}, pipeline.ProcessorDeps{Notifier: inbox, Catalog: fwd, Forwarder: fwd})
	if err != nil {
		t.Fatal(err)
	}
	h := ProcessorRunHandler(proc)
	bad := &kgo.Record{Topic: schemas.TopicOrder, Offset: 2, Value: []byte("not json")}
	run := []*kgo.Record{orderRecord(0, "e0", 1), orderRecord(1, "e1", 2), bad, orderRecord(3, "e3", 3)}
	if n, err := h(t.Context(), run); err != nil {
		t.Fatalf("handler = %d, %v", n, err)
	}
	if want := []string{"e0", "e1", "e3"}; !slices.Equal(inbox.sent, want) {
		t.Fatalf("sent %v, want %v", inbox.sent, want)
	}
	if !slices.Equal(fwd.dead, []int64{2}) {
		t.Fatalf("dead-lettered offsets %v, want [2]", fwd.dead)
	}
	fwd.down = true
	run = []*kgo.Record{orderRecord(4, "e4", 4), bad, orderRecord(6, "e6", 6)}
	n, err := h(t.Context(), run)
	if err == nil || n != 1 {
		t.Fatalf("handler with the DLQ down = %d, %v; want 1 (e4) and an error", n, err)
	}
	if want := []string{"e0", "e1", "e3", "e4"}; !slices.Equal(inbox.sent, want) {
		t.Fatalf("sent %v, want %v (nothing after the undone record)", inbox.sent, want)
	}
}
