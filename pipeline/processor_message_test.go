package pipeline

import (
	"testing"
	"time"
)

// The completed outcome of an event that notified a customer carries the
// text that went to the inbox, byte for byte; no other outcome carries one.
func TestCompletedOutcomeRecordsTheSentMessage(t *testing.T) {
	inbox := &fakeInbox{}
	p, _, rec := newTestProcessor(t, ProcessorConfig{}, inbox)
	for _, d := range []Delivery{
		orderUpdate("e1", "7", "processing", "new", t0),
		orderUpdate("e1", "7", "processing", "new", t0),                       // duplicate
		orderUpdate("e2", "7", "processing", "processing", t0.Add(time.Hour)), // skipped: no change
	} {
		if err := p.Handle(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	if len(inbox.sent) != 1 {
		t.Fatalf("%d messages sent", len(inbox.sent))
	}
	sent := 0
	for _, o := range rec.all() {
		switch {
		case o.Status == StatusCompleted:
			sent++
			if o.Message == "" || o.Message != inbox.sent[0].Text {
				t.Errorf("completed outcome message %q, sent %q", o.Message, inbox.sent[0].Text)
			}
		case o.Message != "":
			t.Errorf("%s outcome carries a message %q", o.Status, o.Message)
		}
	}
	if sent != 1 {
		t.Errorf("%d completed outcomes", sent)
	}
}
