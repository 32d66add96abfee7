package pipeline

import (
	"encoding/json"
	"testing"
	"time"
)

func TestProductEventVersion(t *testing.T) {
	recv := time.Date(2026, 11, 20, 9, 15, 3, 0, time.UTC)
	stamp := time.Date(2026, 11, 20, 9, 15, 2, 500, time.UTC)
	for _, tc := range []struct {
		name string
		data string
		ts   time.Time
		want time.Time
	}{
		{"row updated_at wins", `{"product_id":1,"updated_at":"2026-11-20T09:15:02Z"}`, stamp, time.Date(2026, 11, 20, 9, 15, 2, 0, time.UTC)},
		{"camel case", `{"id":1,"updatedAt":"2026-11-20 09:15:01"}`, stamp, time.Date(2026, 11, 20, 9, 15, 1, 0, time.UTC)},
		{"envelope timestamp otherwise", `{"id":1}`, stamp, stamp},
		{"received-at last", `{"id":1}`, time.Time{}, recv},
		{"unreadable updated_at", `{"id":1,"updated_at":"soon"}`, stamp, stamp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := ProductEventVersion(Event{Data: json.RawMessage(tc.data), Timestamp: tc.ts, ReceivedAt: recv})
			if !v.UpdatedAt.Equal(tc.want) || !v.ReceivedAt.Equal(recv) {
				t.Errorf("version = %+v, want updated %s received %s", v, tc.want, recv)
			}
		})
	}
}

func TestProductVersionOrder(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	v := func(upd, recv int) ProductVersion {
		return ProductVersion{UpdatedAt: t0.Add(time.Duration(upd) * time.Second), ReceivedAt: t0.Add(time.Duration(recv) * time.Second)}
	}
	for _, tc := range []struct {
		name string
		a, b ProductVersion
		want int
	}{
		{"newer updated_at", v(2, 0), v(1, 9), 1},
		{"older updated_at despite later arrival (DLQ replay)", v(1, 99), v(2, 3), -1},
		{"same second: arrival decides", v(1, 4), v(1, 3), 1},
		{"same event", v(1, 3), v(1, 3), 0},
	} {
		if got := tc.a.Compare(tc.b); got != tc.want {
			t.Errorf("%s: Compare = %d, want %d", tc.name, got, tc.want)
		}
		if got := tc.a.Supersedes(tc.b); got != (tc.want >= 0) {
			t.Errorf("%s: Supersedes = %v", tc.name, got)
		}
	}
}
