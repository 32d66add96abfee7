package console

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopstream/shopstream/connectors/clickhouse"
	"github.com/shopstream/shopstream/pipeline"
)

// Past the source topic's retention the accepted record is gone: the page
// still offers the reveal, reads back the message that was sent, and hides
// error texts until reveal (without the body, the names in them are not
// known, so masking would miss them).
func TestEventWithoutItsBodyStillShowsTheSentMessageAndHidesErrors(t *testing.T) {
	sent := clickhouse.SentMessage{Text: "Olá Ana, the text that really went out.", SentAt: testNow.Add(-58 * time.Minute)}
	h := newHarness(t, Config{Token: testToken}, Deps{Messages: fakeMessages{m: map[string]clickhouse.SentMessage{pipeline.OrderUpdated + "/evt-9": sent}}})
	timelineFixture(t, h)
	rows := h.events.timelines["evt-9"]
	for i := range rows {
		rows[i].EventType = pipeline.OrderUpdated
	}
	rows[1].Error = "inbox login: HTTP 400: unknown user (Ana Lima)"
	delete(h.dlq.records, "evershop.order/2@41") // past retention
	h.login()
	code, body, _ := h.get("/events/evt-9")
	if code != http.StatusOK {
		t.Fatalf("event: %d", code)
	}
	mustContain(t, body, `id="body-error"`, `id="reveal"`, `id="errors-hidden"`, "error text hidden until reveal")
	if strings.Contains(body, "Ana Lima") || strings.Contains(body, "unknown user") {
		t.Error("an error text is shown without the body to mask it by")
	}
	_, body, _ = h.post("/events/evt-9/reveal", h.form())
	mustContain(t, body, `class="sent"`, "the text that really went out", "unknown user (Ana Lima)")

	// Nothing recorded either: said so, not "sends no customer message".
	h.server.deps.Messages = fakeMessages{}
	_, body, _ = h.post("/events/evt-9/reveal", h.form())
	mustContain(t, body, "No text recorded for this event, and the body to recompute it from cannot be read")
}

// The reason beside a recomputed message follows the event's last outcome.
func TestRecomputedMessageReasonFollowsTheLastOutcome(t *testing.T) {
	for _, c := range []struct{ last, want string }{
		{"retrying", "not delivered yet"},
		{"received", "not delivered yet"},
		{"dead", "not sent: dead-lettered; a replay would send this"},
		{"superseded", "not sent: superseded"},
		{"skipped", "not sent: skipped"},
		{"duplicate", "already sent earlier; no text recorded for this event"},
	} {
		t.Run(c.last, func(t *testing.T) {
			h := newHarness(t, Config{Token: testToken}, Deps{Messages: fakeMessages{}})
			timelineFixture(t, h)
			rows := h.events.timelines["evt-9"][:2]
			rows[1].Status = c.last
			h.events.timelines["evt-9"] = rows
			h.login()
			_, body, _ := h.post("/events/evt-9/reveal", h.form())
			mustContain(t, body, `class="recomputed"`, c.want)
			if c.last != "retrying" && c.last != "received" && strings.Contains(body, "not delivered yet") {
				t.Errorf("%s: said not delivered yet", c.last)
			}
		})
	}
}
