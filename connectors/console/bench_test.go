package console

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shopstream/shopstream/connectors/clickhouse"
	"github.com/shopstream/shopstream/connectors/kafka/replay"
)

// BenchmarkPages measures what the console itself adds to a page load
// (routing, session, template rendering) over in-memory data shaped like
// a busy hour: 60 minutes x 3 endpoints, 100 search results, 200 dead
// letters listed. The stores' own time is measured on ClickHouse by
// BenchmarkConsoleWeek (connectors/clickhouse) and on the broker by
// BenchmarkDeadLettersPage.
func BenchmarkPages(b *testing.B) {
	ev := &fakeEvents{timelines: map[string][]clickhouse.TimelineRow{}, delivered: map[string]bool{}}
	dlq := &fakeDLQ{records: map[string]Source{}}
	for m := range 60 {
		for _, e := range []string{"evershop.order", "evershop.product", "evershop.customer"} {
			ev.overview.PerMinute = append(ev.overview.PerMinute, clickhouse.MinuteCount{Minute: testNow.Add(-time.Duration(m) * time.Minute), Endpoint: e, Count: 600})
		}
	}
	for i := range 100 {
		ev.events = append(ev.events, clickhouse.EventSummary{EventID: fmt.Sprintf("evt-%d", i), EventType: "order.updated", EntityID: "1", Status: "completed", ReceivedAt: testNow})
	}
	t := &testing.T{}
	for i := range 200 {
		e := orderEvent(t, fmt.Sprintf("d-%d", i), i, "x@example.com")
		dlq.letters = append(dlq.letters, replay.DeadLetter{Offset: int64(i), Event: e, OriginalTopic: "evershop.order", Error: "inbox: 400", Attempts: 1, FailedAt: testNow})
	}
	s, err := New(Config{Addr: "127.0.0.1:0", Development: true, Now: func() time.Time { return testNow }}, Deps{Events: ev, DeadLetters: dlq})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	// One session for every request.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	cookie := rec.Result().Cookies()[0]
	for _, path := range []string{"/", "/events?entity=1", "/dlq"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				req.AddCookie(cookie)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d", path, rec.Code)
				}
			}
		})
	}
}
