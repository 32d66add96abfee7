package clickhouse

import (
	"fmt"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// attempt is one processing outcome of an event: it started startMs after
// the event was received and took procMs.
type attempt struct {
	status  pipeline.Status
	startMs int64
	procMs  int64
	err     string
	topic   string
	offset  int64
}

// event builds the outcomes of one event: its received record (unless
// received is false) and its attempts, numbered from 1.
func event(id, typ string, receivedAt time.Time, offset int64, received bool, attempts ...attempt) []pipeline.Outcome {
	base := pipeline.Outcome{
		EventID: id, EventType: typ, EntityID: "entity-" + id, ReceivedAt: receivedAt,
		Topic: topicOf(typ), Partition: 0, Offset: offset,
	}
	var out []pipeline.Outcome
	if received {
		r := base
		r.Status, r.ProcessedAt = pipeline.StatusReceived, receivedAt
		out = append(out, r)
	}
	for i, a := range attempts {
		o := base
		o.Status, o.Attempt, o.Error = a.status, i+1, a.err
		o.ProcessedAt = receivedAt.Add(time.Duration(a.startMs+a.procMs) * time.Millisecond)
		o.ProcessingMs = float64(a.procMs)
		if a.topic != "" {
			o.Topic, o.Offset = a.topic, a.offset
		}
		out = append(out, o)
	}
	return out
}

func topicOf(eventType string) string {
	switch eventType[:1] {
	case "o":
		return "evershop.order"
	case "p":
		return "evershop.product"
	}
	return "evershop.customer"
}

var (
	day = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	h10 = day.Add(10 * time.Hour)
	h11 = day.Add(11 * time.Hour)
	at  = func(h time.Time, minute, sec, ms int) time.Time {
		return h.Add(time.Duration(minute)*time.Minute + time.Duration(sec)*time.Second + time.Duration(ms)*time.Millisecond)
	}
)

// knownOutcomes is the fixture whose figures query_test.go asserts. The
// range under test is 2025-03-01 (UTC); two events fall just outside it.
func knownOutcomes() []pipeline.Outcome {
	const unavailable, invalid = "inbox: 503 Service Unavailable", "inbox: 400 invalid conversation"
	var out []pipeline.Outcome
	add := func(o []pipeline.Outcome) { out = append(out, o...) }

	// order.updated, 10:00 hour.
	add(event("o1", "order.updated", at(h10, 5, 0, 0), 1, true,
		attempt{status: pipeline.StatusCompleted, startMs: 100, procMs: 200}))
	add(event("o2", "order.updated", at(h10, 10, 0, 0), 2, true,
		attempt{status: pipeline.StatusRetrying, startMs: 1000, procMs: 50, err: unavailable},
		attempt{status: pipeline.StatusRetrying, startMs: 3050, procMs: 40, err: unavailable, topic: "evershop.order.retry.2s", offset: 7},
		attempt{status: pipeline.StatusCompleted, startMs: 7100, procMs: 60, topic: "evershop.order.retry.4s", offset: 3}))
	add(event("o3", "order.updated", at(h10, 20, 0, 500), 3, true,
		attempt{status: pipeline.StatusDead, startMs: 250, procMs: 30, err: invalid}))
	add(event("o4", "order.updated", at(h10, 30, 0, 0), 4, true,
		attempt{status: pipeline.StatusDuplicate, startMs: 400, procMs: 10}))
	add(event("o5", "order.updated", at(h10, 59, 59, 999), 5, true,
		attempt{status: pipeline.StatusSuperseded, startMs: 1, procMs: 5}))
	add(event("o6", "order.updated", at(h10, 40, 0, 0), 6, true)) // not attempted yet

	// product.updated, 10:00 hour: eight dead letters over six error texts,
	// one more than top_errors shows per hour.
	for i, e := range []string{"E1", "E1", "E1", "E2", "E3", "E4", "E5", "E6"} {
		add(event("p"+string(rune('1'+i)), "product.updated", at(h10, 1+i, 0, 0), int64(10+i), true,
			attempt{status: pipeline.StatusDead, startMs: 500, procMs: 10, err: "coze: " + e}))
	}

	// customer.created, 10:00 hour: forty quick completions taking 1..40 ms,
	// enough values for the p95 to differ from the maximum.
	for i := 1; i <= 40; i++ {
		add(event(fmt.Sprintf("q%d", i), "customer.created", at(h10, 0, i, 0), int64(100+i), true,
			attempt{status: pipeline.StatusCompleted, startMs: 10, procMs: int64(i)}))
	}

	// customer.created, 11:00 hour.
	add(event("c1", "customer.created", at(h11, 15, 0, 0), 1, true,
		attempt{status: pipeline.StatusSkipped, startMs: 20, procMs: 2}))
	add(event("c2", "customer.created", at(h11, 16, 0, 0), 2, true,
		attempt{status: pipeline.StatusCompleted, startMs: 30, procMs: 8}))

	// order.updated, 11:00 hour: EverShop sent o7 twice (a new Kafka record
	// with the same event id); the second copy is a duplicate.
	add(event("o7", "order.updated", at(h11, 30, 0, 0), 100, true,
		attempt{status: pipeline.StatusCompleted, startMs: 200, procMs: 100}))
	add(event("o7", "order.updated", at(h11, 30, 5, 0), 101, true,
		attempt{status: pipeline.StatusDuplicate, startMs: 50, procMs: 1}))

	// Outside the range: the last second before it and its end (exclusive).
	add(event("o8", "order.updated", day.Add(-time.Second), 200, true,
		attempt{status: pipeline.StatusDead, startMs: 1, procMs: 1, err: invalid}))
	add(event("o9", "order.updated", day.Add(24*time.Hour), 201, true,
		attempt{status: pipeline.StatusDead, startMs: 1, procMs: 1, err: invalid}))
	return out
}
