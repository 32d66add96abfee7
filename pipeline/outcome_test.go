package pipeline

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestTruncateError(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		wantLen int // bytes; -1: unchanged
	}{
		{"nil", nil, 0},
		{"short", errors.New("inbox: 503"), -1},
		{"exactly the limit", errors.New(strings.Repeat("a", MaxErrorText)), -1},
		{"one over", errors.New(strings.Repeat("a", MaxErrorText+1)), MaxErrorText},
		{"multi-byte runes are not split", errors.New(strings.Repeat("é", MaxErrorText)), MaxErrorText},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := TruncateError(tc.err)
			switch {
			case tc.err == nil:
				if got != "" {
					t.Fatalf("TruncateError(nil) = %q", got)
				}
			case tc.wantLen < 0:
				if got != tc.err.Error() {
					t.Fatalf("changed: %q", got)
				}
			default:
				if len(got) > tc.wantLen || !strings.HasSuffix(got, "…") || !utf8.ValidString(got) {
					t.Fatalf("len %d, suffix %q, valid %v", len(got), got[max(0, len(got)-6):], utf8.ValidString(got))
				}
			}
		})
	}
}

func TestNewOutcome(t *testing.T) {
	received := time.Date(2026, 11, 21, 15, 0, 0, 0, time.UTC)
	start := received.Add(time.Second)
	end := start.Add(1500 * time.Microsecond)
	d := Delivery{Attempt: 2, Topic: "evershop.retry.2s", Partition: 3, Offset: 9,
		Event: Event{ID: "e1", Type: OrderUpdated, EntityID: "7", ReceivedAt: received}}

	got := NewOutcome(d, StatusRetrying, errors.New("inbox: 503"), start, end)
	want := Outcome{EventID: "e1", EventType: OrderUpdated, EntityID: "7", Status: StatusRetrying, Attempt: 2,
		Error: "inbox: 503", ReceivedAt: received, ProcessedAt: end, ProcessingMs: 1.5,
		Topic: "evershop.retry.2s", Partition: 3, Offset: 9}
	if got != want {
		t.Errorf("retrying:\n got %+v\nwant %+v", got, want)
	}

	d.Attempt, d.Topic = 1, "evershop.order"
	got = NewOutcome(d, StatusReceived, nil, start, end)
	want = Outcome{EventID: "e1", EventType: OrderUpdated, EntityID: "7", Status: StatusReceived, Attempt: 0,
		ReceivedAt: received, ProcessedAt: received, Topic: "evershop.order", Partition: 3, Offset: 9}
	if got != want {
		t.Errorf("received:\n got %+v\nwant %+v", got, want)
	}
}
