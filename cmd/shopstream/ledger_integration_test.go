package main

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/inbox/inboxtest"
	"github.com/shopstream/shopstream/connectors/kafka/progress"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// TestIntegrationOrderProgressAcrossMembersAndRestarts: per-order
// monotonic notifications with the Kafka-backed order ledger.
//
//  1. Two processors. "processing" of an order fails once at the inbox and
//     goes to the 2 s retry tier; "shipped" of the same order arrives
//     meanwhile and is sent. The retried "processing" is superseded: the
//     customer never hears "processing" after "shipped".
//  2. One member stops (its partitions move to the other, which loads their
//     progress), an older status under a new event id is superseded.
//  3. Every member stops; a fresh process (no memory of any order) takes
//     over and an older status again is superseded, not sent. With the
//     in-memory ledger this last step sent it.
func TestIntegrationOrderProgressAcrossMembersAndRestarts(t *testing.T) {
	inbox := inboxtest.Start(t, inboxToken)
	cfg := testConfig(t, append(inboxEnv(inbox), "WEBHOOK_AUTO_SYNC_PRODUCTS=false", "SHOPSTREAM_RETRY_TIERS=2s,4s,8s")...)
	resetKafka(t, cfg)
	events := tailTopic(t, cfg, schemas.TopicEvents)
	progressTail := tailTopic(t, cfg, schemas.TopicOrderProgress)
	startServe(t, cfg)
	a := startProcess(t, cfg, newRegistry())
	b := startProcess(t, cfg, newRegistry())
	waitGroupMembers(t, cfg, schemas.GroupProcessor, 2, 60*time.Second)

	const order, email = 4711, "progress@example.com"
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	post := func(body []byte) string {
		t.Helper()
		if st := postWebhook(t, cfg, "order", body); st != http.StatusOK {
			t.Fatalf("post: %d", st)
		}
		return pipeline.BodyEventID(body)
	}
	sent := func() []string {
		var ids []string
		for _, m := range inbox.Messages(email) {
			ids = append(ids, m.IdempotencyKey)
		}
		return ids
	}

	// 1. processing fails once, shipped overtakes it.
	inbox.FailPathNext(inboxtest.PathMessages, 1, http.StatusServiceUnavailable)
	processingID := post(orderBody(pipeline.OrderUpdated, order, email, "processing", "new", base.Add(1*time.Second)))
	events.WaitOutcomes(t, 30*time.Second, "processing sent to the retry tier", func(o []pipeline.Outcome) bool {
		return countOutcomes(o, pipeline.StatusRetrying, processingID) == 1
	})
	shippedID := post(orderBody(pipeline.OrderUpdated, order, email, "shipped", "processing", base.Add(2*time.Second)))
	outs := events.WaitOutcomes(t, 60*time.Second, "shipped sent and the retried processing decided", func(o []pipeline.Outcome) bool {
		return countOutcomes(o, pipeline.StatusCompleted, shippedID) == 1 &&
			countOutcomes(o, pipeline.StatusSuperseded, processingID)+countOutcomes(o, pipeline.StatusCompleted, processingID) == 1
	})
	if n := countOutcomes(outs, pipeline.StatusSuperseded, processingID); n != 1 {
		t.Errorf("retried processing: %+v, want superseded", outcomesOf(outs, processingID))
	}
	if got := sent(); len(got) != 1 || got[0] != shippedID {
		t.Fatalf("customer got %v, want only shipped %s", got, shippedID)
	}
	// The claim is in the progress topic, keyed by the order id.
	progressTail.WaitFor(t, 10*time.Second, "the shipped claim in "+schemas.TopicOrderProgress, func(rs []*kgo.Record) bool {
		return lastClaimOf(rs, "4711") == shippedID
	})

	// 2. One member leaves; the other owns every partition now.
	if err := a.Stop(); err != nil {
		t.Fatalf("stop a: %v", err)
	}
	waitGroupMembers(t, cfg, schemas.GroupProcessor, 1, 60*time.Second)
	olderID := post(orderBody(pipeline.OrderUpdated, order, email, "processing", "pending", base.Add(1*time.Second)))
	events.WaitOutcomes(t, 30*time.Second, "an older status superseded after the partition moved", func(o []pipeline.Outcome) bool {
		return countOutcomes(o, pipeline.StatusSuperseded, olderID) == 1
	})

	// 3. Nobody who saw the order is left: a fresh process decides.
	if err := b.Stop(); err != nil {
		t.Fatalf("stop b: %v", err)
	}
	startProcess(t, cfg, newRegistry())
	waitGroupMembers(t, cfg, schemas.GroupProcessor, 1, 60*time.Second)
	olderAgainID := post(orderBody(pipeline.OrderUpdated, order, email, "processing", "on_hold", base.Add(2*time.Second)))
	newerID := post(orderBody(pipeline.OrderUpdated, order, email, "delivered", "shipped", base.Add(3*time.Second)))
	outs = events.WaitOutcomes(t, 60*time.Second, "the fresh process's verdicts", func(o []pipeline.Outcome) bool {
		return countOutcomes(o, pipeline.StatusSuperseded, olderAgainID) == 1 && countOutcomes(o, pipeline.StatusCompleted, newerID) == 1
	})
	if got := outcomesOf(outs, olderAgainID); len(got) != 1 {
		t.Errorf("older status after the restart: %+v, want only superseded", got)
	}
	if got, want := sent(), []string{shippedID, newerID}; !slices.Equal(got, want) {
		t.Fatalf("customer got %v, want %v (shipped, then delivered)", got, want)
	}
	noViolations(t, "inbox", inbox.Violations())
}

// lastClaimOf is the event id of key's last record in rs.
func lastClaimOf(rs []*kgo.Record, key string) string {
	id := ""
	for _, r := range rs {
		if string(r.Key) != key {
			continue
		}
		if s, err := progress.DecodeClaim(key, r.Value); err == nil {
			id = s.EventID
		}
	}
	return id
}
