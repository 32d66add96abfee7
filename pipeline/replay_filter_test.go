package pipeline

import (
	"testing"
	"time"
)

func TestReplayFilter(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	f, err := ParseReplayFilter("order.updated, customer.created", "", "2h", "", now)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		eventType string
		failedAt  time.Time
		want      bool
	}{
		{"matching type, recent", "order.updated", now.Add(-time.Hour), true},
		{"other type", "product.updated", now.Add(-time.Hour), false},
		{"too old", "order.updated", now.Add(-3 * time.Hour), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := f.Match(c.eventType, "e", c.failedAt); got != c.want {
				t.Fatalf("Match = %v", got)
			}
		})
	}
	ids, _ := ParseReplayFilter("", "a,b", "", "2026-11-28T11:00:00Z", now)
	if !ids.Match("order.updated", "a", now.Add(-2*time.Hour)) || ids.Match("order.updated", "c", now.Add(-2*time.Hour)) || ids.Match("order.updated", "a", now) {
		t.Fatal("event id / until filter")
	}
	for _, bad := range [][4]string{{"order.exploded", "", "", ""}, {"", "", "yesterday", ""}, {"", "", "1h", "2h"}} {
		if _, err := ParseReplayFilter(bad[0], bad[1], bad[2], bad[3], now); err == nil {
			t.Fatalf("accepted %v", bad)
		}
	}
}
