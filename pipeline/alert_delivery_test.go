package pipeline

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestQuietHoursNextEnd(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	cases := []struct {
		name, window string
		loc          *time.Location
		at, want     time.Time
	}{
		{"wraps midnight, evening", "22:00-07:00", time.UTC, time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)},
		{"wraps midnight, after midnight", "22:00-07:00", time.UTC, time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)},
		{"same day", "12:00-13:30", time.UTC, time.Date(2026, 3, 2, 12, 5, 0, 0, time.UTC), time.Date(2026, 3, 2, 13, 30, 0, 0, time.UTC)},
		{"exactly at the end is the next day's", "22:00-07:00", time.UTC, time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 7, 0, 0, 0, time.UTC)},
		{"in the window's time zone", "22:00-07:00", berlin, time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)},
		{"across a DST change", "01:00-04:00", berlin, time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC), time.Date(2026, 3, 29, 2, 0, 0, 0, time.UTC)},
		// 2026-11-01 in New York: 01:00-02:00 EDT, then 01:00-02:00 EST again.
		// In the second pass of the hour the window ends at 01:30 EST (06:30
		// UTC), 20 minutes later, not a day later.
		{"autumn: the end's second pass", "22:00-01:30", newYork, time.Date(2026, 11, 1, 6, 10, 0, 0, time.UTC), time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC)},
		{"autumn: the end's first pass", "22:00-01:30", newYork, time.Date(2026, 11, 1, 5, 10, 0, 0, time.UTC), time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC)},
		{"autumn: a window inside the repeated hour", "01:30-01:45", newYork, time.Date(2026, 11, 1, 6, 35, 0, 0, time.UTC), time.Date(2026, 11, 1, 6, 45, 0, 0, time.UTC)},
		// 2026-03-29 in Berlin the clocks go from 02:00 CET to 03:00 CEST: an
		// end of 02:30 never shows; quiet ends at the change (01:00 UTC), when
		// Contains turns false.
		{"spring: an end the clocks skip", "22:00-02:30", berlin, time.Date(2026, 3, 29, 0, 50, 0, 0, time.UTC), time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)},
		{"outside the window: the next one's end", "12:00-13:30", time.UTC, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 13, 30, 0, 0, time.UTC)},
		{"not on a minute", "12:00-13:30", time.UTC, time.Date(2026, 3, 2, 13, 29, 59, 500, time.UTC), time.Date(2026, 3, 2, 13, 30, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, err := ParseQuietHours(c.window, c.loc)
			if err != nil {
				t.Fatal(err)
			}
			got := q.NextEnd(c.at)
			if !got.Equal(c.want) {
				t.Fatalf("NextEnd(%v) = %v, want %v", c.at, got, c.want)
			}
			// Agrees with Contains: quiet just before the end, not at it.
			if q.Contains(got) || !q.Contains(got.Add(-time.Second)) {
				t.Fatalf("NextEnd(%v) = %v: Contains before %v, at %v", c.at, got, q.Contains(got.Add(-time.Second)), q.Contains(got))
			}
		})
	}
	if got := (QuietHours{}).NextEnd(time.Now()); !got.IsZero() {
		t.Fatalf("no quiet hours: %v", got)
	}
}

type fakeDeferrer struct {
	mu    sync.Mutex
	held  []AlertDelivery
	until []time.Time
}

func (f *fakeDeferrer) Defer(_ context.Context, m AlertDelivery, until time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held, f.until = append(f.held, m), append(f.until, until)
	return nil
}

func TestAlertDispatchDefersTheWebhookInQuietHours(t *testing.T) {
	inbox, hook, def := &fakeInbox{}, &fakeAlertSender{}, &fakeDeferrer{}
	ch, err := NewAlertChannels(inbox, "staff@example.com", "", hook)
	if err != nil {
		t.Fatal(err)
	}
	quiet, _ := ParseQuietHours("22:00-07:00", time.UTC)
	a := &AlertDispatch{Channels: ch, Defer: def, Quiet: quiet}
	night, day := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	morning := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	alert := Alert{ID: "a1", Trigger: AlertOutOfStock, ProductID: "7", Old: "1", New: "0"}
	_, digest := PlanDigest(DigestRule{Min: 2}, []Alert{alert, {ID: "a2", Trigger: AlertLowStock, ProductID: "8", Old: "6", New: "5"}})
	ctx := t.Context()

	for _, c := range []struct {
		name         string
		m            AlertDelivery
		at           time.Time
		wantDeferred bool
	}{
		{"inbox at night is sent", AlertDelivery{Channel: ChannelInbox, Alert: &alert}, night, false},
		{"webhook at night is held", AlertDelivery{Channel: ChannelWebhook, Alert: &alert}, night, true},
		{"a digest at night is held alert by alert", AlertDelivery{Channel: ChannelWebhook, Digest: digest}, night, true},
		{"webhook by day is sent", AlertDelivery{Channel: ChannelWebhook, Alert: &alert}, day, false},
	} {
		deferred, err := a.Dispatch(ctx, c.m, c.at)
		if err != nil || deferred != c.wantDeferred {
			t.Fatalf("%s: deferred %v, %v", c.name, deferred, err)
		}
	}
	if len(inbox.sent) != 1 || inbox.sent[0].EventID != "a1" || inbox.sent[0].Email != "staff@example.com" {
		t.Fatalf("inbox got %v", inbox.sent)
	}
	if len(hook.sent) != 1 {
		t.Fatalf("webhook got %v", hook.sent)
	}
	if len(def.held) != 3 || def.held[1].Alert.ID != "a1" || def.held[2].Alert.ID != "a2" || def.held[2].Channel != ChannelWebhook {
		t.Fatalf("held %+v", def.held)
	}
	for _, u := range def.until {
		if !u.Equal(morning) {
			t.Fatalf("held until %v, want %v", u, morning)
		}
	}
	// Without a deferrer the quiet hours are not applied (never dropped).
	if deferred, err := (&AlertDispatch{Channels: ch, Quiet: quiet}).Dispatch(ctx, AlertDelivery{Channel: ChannelWebhook, Alert: &alert}, night); deferred || err != nil {
		t.Fatalf("no deferrer: %v %v", deferred, err)
	}
}

func TestAlertChannelsDeliverOneChannel(t *testing.T) {
	inbox, hook := &fakeInbox{}, &fakeAlertSender{}
	ctx := t.Context()
	alert := Alert{ID: "a1", Trigger: AlertOutOfStock, ProductID: "7", Old: "1", New: "0"}
	_, digest := PlanDigest(DigestRule{Min: 2}, []Alert{alert, {ID: "a2", Trigger: AlertLowStock}})

	inboxOnly, _ := NewAlertChannels(inbox, "staff@example.com", "", nil)
	if err := inboxOnly.Deliver(ctx, AlertDelivery{Channel: ChannelInbox, Digest: digest}); err != nil {
		t.Fatal(err)
	}
	if n := inbox.sent[0]; n.EventID != digest.ID || !strings.Contains(n.Text, "alert_id,trigger") {
		t.Fatalf("inbox digest without a webhook lacks the CSV: %+v", n)
	}
	if err := inboxOnly.Deliver(ctx, AlertDelivery{Channel: ChannelWebhook, Alert: &alert}); !IsPermanent(err) {
		t.Fatalf("webhook not configured: %v, want permanent", err)
	}
	both, _ := NewAlertChannels(inbox, "staff@example.com", "", hook)
	hook.fail = Retryable(errors.New("webhook 503"), 0)
	if err := both.Deliver(ctx, AlertDelivery{Channel: ChannelWebhook, Alert: &alert}); err == nil || IsPermanent(err) {
		t.Fatalf("webhook 503: %v, want retryable", err)
	}
	if len(inbox.sent) != 1 {
		t.Fatal("a webhook delivery touched the inbox")
	}
	for _, bad := range []AlertDelivery{{Channel: "pager", Alert: &alert}, {Channel: ChannelInbox}, {Channel: ChannelInbox, Alert: &Alert{}}} {
		if err := both.Deliver(ctx, bad); !IsPermanent(err) {
			t.Fatalf("%+v: %v, want permanent", bad, err)
		}
	}
	if got := both.Configured(); len(got) != 2 || got[0] != ChannelInbox {
		t.Fatalf("configured %v", got)
	}
}

// tierDelivery is an alert delivery as the processor reads it from a
// retry tier: attempt 2, received (its budget started) at since.
func tierDelivery(t *testing.T, m AlertDelivery, since time.Time) Delivery {
	t.Helper()
	ev, err := AlertDeliveryEvent(m, since)
	if err != nil {
		t.Fatal(err)
	}
	return Delivery{Event: ev, Attempt: 2, Topic: "evershop.retry.2s", Origin: Origin{Topic: "shopstream.alerts"}}
}

// TestProcessorDeliversAlertsFromTheTiers: a delivery back from a tier is
// sent to its channel once (completed; a copy is a duplicate); a transient
// failure climbs the tiers, a permanent one is dead-lettered without a
// needs-a-person alert about itself; at night the webhook is deferred.
func TestProcessorDeliversAlertsFromTheTiers(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	inbox, hook, def, fwd, rec, ops := &fakeInbox{}, &fakeAlertSender{}, &fakeDeferrer{}, &fakeForwarder{}, &outcomes{}, &fakeAlertSender{}
	ch, _ := NewAlertChannels(inbox, "staff@example.com", "", hook)
	quiet, _ := ParseQuietHours("22:00-07:00", time.UTC)
	p, err := NewProcessor(ProcessorConfig{Retry: RetryPolicy{Tiers: []time.Duration{2 * time.Second}, MaxAge: time.Hour}}, ProcessorDeps{
		Notifier: inbox, Catalog: fwd, Forwarder: fwd, Recorder: rec, AlertSender: ops, Now: clock,
		AlertDispatch: &AlertDispatch{Channels: ch, Defer: def, Quiet: quiet}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	alert := Alert{ID: "a1", Trigger: AlertOutOfStock, ProductID: "7", Old: "1", New: "0"}
	hookDelivery := tierDelivery(t, AlertDelivery{Channel: ChannelWebhook, Alert: &alert}, now.Add(-time.Minute))

	hook.fail = Retryable(errors.New("webhook 503"), 0)
	if err := p.Handle(ctx, hookDelivery); err != nil {
		t.Fatal(err)
	}
	hook.fail = nil
	for range 2 {
		if err := p.Handle(ctx, hookDelivery); err != nil {
			t.Fatal(err)
		}
	}
	if len(fwd.retried) != 1 || len(hook.sent) != 1 || len(inbox.sent) != 0 {
		t.Fatalf("retried %d, webhook %d, inbox %d", len(fwd.retried), len(hook.sent), len(inbox.sent))
	}
	hook.fail = Permanent(errors.New("webhook 410"))
	alert2 := alert
	alert2.ID = "a2"
	if err := p.Handle(ctx, tierDelivery(t, AlertDelivery{Channel: ChannelWebhook, Alert: &alert2}, now)); err != nil {
		t.Fatal(err)
	}
	if len(fwd.dead) != 1 || len(ops.sent) != 0 {
		t.Fatalf("refused: %d dead, %d needs-a-person alerts; want 1 and 0", len(fwd.dead), len(ops.sent))
	}
	hook.fail = nil
	now = time.Date(2026, 3, 2, 23, 30, 0, 0, time.UTC)
	alert3 := alert
	alert3.ID = "a3"
	if err := p.Handle(ctx, tierDelivery(t, AlertDelivery{Channel: ChannelWebhook, Alert: &alert3}, now)); err != nil {
		t.Fatal(err)
	}
	if len(def.held) != 1 || len(hook.sent) != 1 {
		t.Fatalf("night: %d held, %d posted", len(def.held), len(hook.sent))
	}
	// The morning send of a3 failed and it came back through the tiers
	// under the same id: a deferral was not a delivery, so it is sent now,
	// not taken for a duplicate.
	now = time.Date(2026, 3, 3, 7, 5, 0, 0, time.UTC)
	if err := p.Handle(ctx, tierDelivery(t, AlertDelivery{Channel: ChannelWebhook, Alert: &alert3}, now)); err != nil {
		t.Fatal(err)
	}
	if len(hook.sent) != 2 {
		t.Fatalf("a3 after the night: %d posted, want 2 (a1 and a3)", len(hook.sent))
	}
	got := rec.statuses()
	want := []Status{StatusRetrying, StatusCompleted, StatusDuplicate, StatusDead, StatusDeferred, StatusCompleted}
	if len(got) != len(want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("outcomes %v, want %v", got, want)
		}
	}
	for _, o := range rec.all() {
		if o.EventType != AlertDeliveryType || o.AlertTrigger != string(AlertOutOfStock) || !strings.HasSuffix(o.EventID, "@webhook") {
			t.Fatalf("outcome row %+v", o)
		}
	}
}

// TestProcessorWithoutAlertChannelsDeadLettersDeliveries: a delivery that
// reaches a processor without channels is not lost: it is dead-lettered.
func TestProcessorWithoutAlertChannelsDeadLettersDeliveries(t *testing.T) {
	fwd := &fakeForwarder{}
	p, err := NewProcessor(ProcessorConfig{}, ProcessorDeps{Notifier: &fakeInbox{}, Catalog: fwd, Forwarder: fwd})
	if err != nil {
		t.Fatal(err)
	}
	alert := Alert{ID: "a1", Trigger: AlertLowStock}
	if err := p.Handle(t.Context(), tierDelivery(t, AlertDelivery{Channel: ChannelInbox, Alert: &alert}, time.Now())); err != nil {
		t.Fatal(err)
	}
	if len(fwd.dead) != 1 {
		t.Fatalf("%d dead, want 1", len(fwd.dead))
	}
}
