package console

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopstream/shopstream/connectors/clickhouse"
	"github.com/shopstream/shopstream/connectors/kafka/replay"
	"github.com/shopstream/shopstream/pipeline"
)

func TestMaskErrorHidesPersonalData(t *testing.T) {
	known := personalValues(orderBody(10009, "ana@example.com", "processing"), false)
	cases := []struct{ in, want string }{
		{"inbox login: HTTP 400: unknown user ana@example.com", "inbox login: HTTP 400: unknown user a•••"},
		{"inbox: 400: no conversation for bob.smith@shop.example", "inbox: 400: no conversation for b•••@shop.example"},
		{"recipient Ana Lima refused", "recipient A••• refused"},
		{"greeting for LIMA failed", "greeting for L••• failed"},
		{"Analytics: limaçon at Lisboan", "Analytics: limaçon at Lisboan"}, // whole words only
		{"to Anaïs and Ana, ana.", "to Anaïs and A•••, A•••."},
		{"address Rua 1, Lisboa invalid", "address R•••, L••• invalid"},
		{"call +351 912 345 678 failed", "call ••• failed"},
		{"sms to (555) 123-4567 and 555.123.4567", "sms to ••• and •••"},
		// Ids, offsets, times and statuses stay readable.
		{"order 10009 at evershop.order/2@41 2026-12-03T06:00:00Z: 503", "order 10009 at evershop.order/2@41 2026-12-03T06:00:00Z: 503"},
		{"", ""},
	}
	for _, c := range cases {
		if got := maskError(c.in, known); got != c.want {
			t.Errorf("maskError(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// Without the body only the patterns apply.
	if got := maskError("user ana@example.com (Ana Lima)", nil); got != "user a•••@example.com (Ana Lima)" {
		t.Errorf("patterns only: %q", got)
	}
	// A product's name is not personal.
	if pv := personalValues([]byte(`{"data":{"name":"Blue Shirt","sku":"B1"}}`), true); len(pv) != 0 {
		t.Errorf("product values %v", pv)
	}
}

func TestErrorTextsAreMaskedUntilRevealed(t *testing.T) {
	h := newHarness(t, Config{Token: testToken}, Deps{})
	timelineFixture(t, h)
	rows := h.events.timelines["evt-9"]
	rows[1].Error = "inbox login: HTTP 400: unknown user ana@example.com (Ana Lima)"
	h.events.events = []clickhouse.EventSummary{{EventID: "evt-9", EventType: pipeline.OrderUpdated, EntityID: "10009", Status: "dead",
		Error: "inbox: unknown user ana@example.com", ReceivedAt: testNow.Add(-time.Hour)}}
	letter := replay.DeadLetter{Partition: 0, Offset: 3, Event: orderEvent(t, "evt-9", 10009, "ana@example.com"), OriginalTopic: "evershop.order",
		Error: "permanent: inbox: no user Ana Lima <ana@example.com>", Attempts: 1, FailedAt: testNow.Add(-time.Minute)}
	h.dlq.letters = []replay.DeadLetter{letter}
	h.login()
	pages := map[string]string{}
	for _, p := range []string{"/events/evt-9", "/events?entity=10009", "/dlq", "/dlq/0/3"} {
		code, body, _ := h.get(p)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", p, code)
		}
		pages[p] = body
		for _, leak := range []string{"ana@example.com", "Ana Lima"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s shows %q in an error text", p, leak)
			}
		}
	}
	mustContain(t, pages["/events/evt-9"], "unknown user a•••", `id="errors-masked"`)
	mustContain(t, pages["/dlq/0/3"], "no user A••• &lt;a•••&gt;")
	// The same explicit reveal shows the error as recorded.
	_, body, _ := h.post("/events/evt-9/reveal", h.form())
	mustContain(t, body, "unknown user ana@example.com (Ana Lima)")
}

type fakeMessages struct {
	m   map[string]clickhouse.SentMessage
	err error
}

func (f fakeMessages) SentMessage(_ context.Context, typ, id string) (clickhouse.SentMessage, bool, error) {
	m, ok := f.m[typ+"/"+id]
	return m, ok, f.err
}

func TestCustomerMessageIsReadBackOrMarkedRecomputed(t *testing.T) {
	sent := clickhouse.SentMessage{Text: "Olá Ana, the text that really went out.", SentAt: testNow.Add(-58 * time.Minute)}
	for _, c := range []struct {
		name string
		deps Deps
		want []string
		not  []string
	}{
		{"recorded", Deps{Messages: fakeMessages{m: map[string]clickhouse.SentMessage{pipeline.OrderUpdated + "/evt-9": sent}}},
			[]string{`class="sent"`, "Olá Ana, the text that really went out.", "Sent: the text recorded with the delivered outcome", "2026-12-03 06:02:00.000Z"},
			[]string{"Recomputed"}},
		{"delivered, nothing recorded", Deps{Messages: fakeMessages{}},
			[]string{`class="recomputed"`, "Recomputed from the body, not read back", "before migration 0004"}, []string{"really went out"}},
		{"no message store", Deps{},
			[]string{`class="recomputed"`, "this console reads no recorded messages"}, nil},
		{"store down", Deps{Messages: fakeMessages{err: errors.New("clickhouse away")}},
			[]string{"Cannot read the recorded message: clickhouse away", `class="recomputed"`}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Config{Token: testToken}, c.deps)
			timelineFixture(t, h)
			h.login()
			_, body, _ := h.get("/events/evt-9")
			if strings.Contains(body, `id="message"`) {
				t.Error("message shown before reveal")
			}
			_, body, _ = h.post("/events/evt-9/reveal", h.form())
			mustContain(t, body, c.want...)
			for _, n := range c.not {
				if strings.Contains(body, n) {
					t.Errorf("page shows %q", n)
				}
			}
		})
	}
	// Not delivered yet: recomputed, and said so.
	h := newHarness(t, Config{Token: testToken}, Deps{Messages: fakeMessages{}})
	timelineFixture(t, h)
	h.events.timelines["evt-9"] = h.events.timelines["evt-9"][:2]
	h.login()
	_, body, _ := h.post("/events/evt-9/reveal", h.form())
	mustContain(t, body, "not delivered yet")
}
