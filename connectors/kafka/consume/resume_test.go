package consume

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestResumeLatency measures how long a partition paused by OnAssigned takes
// to be fetched once the hook returns, while another partition of the member
// is idle (its fetch request long-polls). franz-go includes a resumed
// partition only in the next fetch request, after the in-flight one returns:
// with franz-go's default FetchMaxWait (5 s) every loaded OnAssigned and
// every hold release waited up to 5 s. The runtime's FetchMaxWait bounds it.
func TestResumeLatency(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxWait time.Duration // 0: the runtime's default
		atLeast time.Duration // the latency is at least this (the problem shows)
		below   time.Duration // the latency stays below this
	}{
		{"runtime default", 0, 0, DefaultFetchMaxWait + 2*time.Second},
		{"franz-go default 5s", 5 * time.Second, 2 * time.Second, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.atLeast > 0 && testing.Short() {
				t.Skip("shows the 5 s problem; skipped with -short")
			}
			const topic = "t"
			kcfg := testCluster(t, 2, topic)
			produce(t, kcfg, topic, 0, 1)
			entered, idleLoaded := make(chan struct{}), make(chan struct{})
			release := make(chan struct{})
			handled := make(chan time.Time, 1)
			fetches := make(chan struct{}, 100)
			_, _ = start(t, kcfg, Config{Group: "g", Topics: []string{topic}, FetchMaxWait: tc.maxWait,
				Opts: []kgo.Opt{kgo.WithHooks(fetchSent(fetches))},
				OnAssigned: func(ctx context.Context, _ string, p int32) error {
					if p == 1 {
						close(idleLoaded)
						return nil
					}
					close(entered)
					select {
					case <-release:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				},
				Handle: func(context.Context, *kgo.Record) error {
					handled <- time.Now()
					return nil
				}})
			<-entered
			<-idleLoaded
			// Release once a fetch request (for the idle partition only:
			// partition 0 is paused while loading) is in flight.
			for len(fetches) > 0 {
				<-fetches
			}
			<-fetches
			released := time.Now()
			close(release)
			at := <-handled
			lat := at.Sub(released)
			t.Logf("resume latency after OnAssigned: %s (FetchMaxWait %s)", lat, tc.maxWait)
			if lat < tc.atLeast {
				t.Errorf("latency %s, expected the %s long poll to show (at least %s)", lat, tc.maxWait, tc.atLeast)
			}
			if lat >= tc.below {
				t.Errorf("latency %s, want below %s", lat, tc.below)
			}
		})
	}
}

// fetchSent signals every Fetch request written to a broker.
type fetchSent chan struct{}

func (f fetchSent) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 1 && err == nil { // 1: Fetch
		select {
		case f <- struct{}{}:
		default:
		}
	}
}

// TestHoldReleaseLatency: a tier record's due-time hold pauses its
// partition. The held record is already in hand; the records written behind
// it while it waits are fetched by the first fetch request after the hold,
// which, with another partition of the member idle (its fetch long-polls),
// leaves only after the in-flight one: up to FetchMaxWait after the due time.
func TestHoldReleaseLatency(t *testing.T) {
	for _, tc := range []struct {
		name           string
		maxWait        time.Duration
		atLeast, below time.Duration
	}{
		{"runtime default", 0, 0, DefaultFetchMaxWait + 2*time.Second},
		{"franz-go default 5s", 5 * time.Second, 2 * time.Second, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.atLeast > 0 && testing.Short() {
				t.Skip("shows the 5 s problem; skipped with -short")
			}
			const topic, hold = "t", time.Second
			kcfg := testCluster(t, 2, topic)
			produce(t, kcfg, topic, 0, 1)
			var (
				mu  sync.Mutex
				due time.Time
			)
			handled := make(chan time.Time, 2)
			fetches := make(chan struct{}, 100)
			c, _ := start(t, kcfg, Config{Group: "g", Topics: []string{topic}, FetchMaxWait: tc.maxWait,
				Opts: []kgo.Opt{kgo.WithHooks(fetchSent(fetches))},
				DueAt: func(r *kgo.Record) time.Time {
					mu.Lock()
					defer mu.Unlock()
					if r.Offset == 0 && due.IsZero() {
						due = time.Now().Add(hold)
					}
					if r.Offset == 0 {
						return due
					}
					return time.Time{}
				},
				Handle: func(_ context.Context, r *kgo.Record) error {
					if r.Offset == 1 {
						handled <- time.Now()
					}
					return nil
				}})
			eventually(t, "the hold paused partition 0", func() bool { return paused(c, topic, 0) })
			// Written behind the held record while its partition is paused.
			produce(t, kcfg, topic, 0, 1)
			// A fetch (of the idle partition 1 only) in flight when the hold ends.
			for len(fetches) > 0 {
				<-fetches
			}
			<-fetches
			mu.Lock()
			caughtInHold := time.Now().Before(due)
			mu.Unlock()
			at := <-handled
			mu.Lock()
			lat := at.Sub(due)
			mu.Unlock()
			if !caughtInHold {
				// So slow a machine that the fetch caught began after the
				// hold: it may include partition 0; nothing to show.
				tc.atLeast = 0
			}
			t.Logf("record behind a hold handled %s after the hold ended (FetchMaxWait %s)", lat, tc.maxWait)
			if lat < tc.atLeast {
				t.Errorf("latency %s, expected the long poll to show (at least %s)", lat, tc.atLeast)
			}
			if lat >= tc.below {
				t.Errorf("latency %s, want below %s", lat, tc.below)
			}
		})
	}
}
