package main

import (
	"context"
	"fmt"
	"time"

	"github.com/shopstream/shopstream/internal/clock"
)

// load is the traffic of a scenario.
type load struct {
	orders, customers, products int
	perSecond                   float64
	single                      bool // one order.updated only (the "single event" case)
	captured                    bool // order.created re-posted as a captured request (sender.captured)
}

// scenario is one row of the table: traffic, a fault, and extra checks.
// Hooks get the running system; a nil hook does nothing.
type scenario struct {
	name   string
	proves string
	full   load
	short  load
	// drainTimeout bounds the wait for the system to settle after the
	// traffic and the fault ended.
	drainTimeout time.Duration
	// before runs before traffic starts (arm a fault that lasts the run).
	before func(s *system)
	// during runs alongside the traffic and returns when the fault is over;
	// traffic is the planned sending time, to place faults inside it.
	during func(ctx context.Context, s *system, r *result, short bool, traffic time.Duration) error
	// after runs once the system drained (or the drain timed out), before
	// the counts; it may add failures.
	after func(ctx context.Context, s *system, r *result) error
	// cleanup disarms what before armed.
	cleanup func(s *system)
}

func pick(short bool, full, shrt time.Duration) time.Duration {
	if short {
		return shrt
	}
	return full
}

var (
	bulkFull  = load{orders: 1000, customers: 300, products: 200, perSecond: 150}
	bulkShort = load{orders: 120, customers: 40, products: 30, perSecond: 60}
	oneEvent  = load{orders: 1, single: true}
)

// scenarios is the suite. The Retry-After case runs last: on code without
// a clamp it parks a retry partition for an hour and would hold back every
// scenario after it.
var scenarios = []scenario{
	{
		name:   "process kill -9 x3",
		proves: "no loss, no duplicate and no stale status when a processor dies mid-flight (partitions move, offsets re-read)",
		full:   bulkFull, short: bulkShort, drainTimeout: 3 * time.Minute,
		during: func(ctx context.Context, s *system, _ *result, _ bool, traffic time.Duration) error {
			for i := range 3 {
				if err := clock.Sleep(ctx, traffic/4); err != nil {
					return err
				}
				p := s.sup.get(fmt.Sprintf("process-%d", i%3+1))
				if err := s.sup.restart(ctx, p, 2*time.Second); err != nil {
					return err
				}
			}
			return nil
		},
	},
	{
		name:   "serve kill -9",
		proves: "an event the ingress answered 200 is never lost; the store's retry of an unanswered one is not a second message",
		full:   bulkFull, short: bulkShort, drainTimeout: 3 * time.Minute,
		during: func(ctx context.Context, s *system, _ *result, _ bool, traffic time.Duration) error {
			for range 2 {
				if err := clock.Sleep(ctx, traffic/3); err != nil {
					return err
				}
				if err := s.sup.restart(ctx, s.sup.get("serve"), time.Second); err != nil {
					return err
				}
			}
			return nil
		},
	},
	{
		name:   "broker stop 15s",
		proves: "while Kafka is down the ingress answers 503 within 5 s and never 200; everything flows after",
		full:   bulkFull, short: bulkShort, drainTimeout: 3 * time.Minute,
		during: func(ctx context.Context, s *system, r *result, _ bool, traffic time.Duration) error {
			if err := clock.Sleep(ctx, traffic/4); err != nil {
				return err
			}
			if err := s.kafka(ctx, "stop"); err != nil {
				return err
			}
			from := time.Now()
			if err := clock.Sleep(ctx, 15*time.Second); err != nil {
				return err
			}
			to := time.Now()
			if err := s.kafka(ctx, "start"); err != nil {
				return err
			}
			var ok200, slow, answered, unavailable int
			for _, a := range s.send.attemptsBetween(from, to) {
				if a.status != 0 {
					answered++
				}
				if a.status == 503 {
					unavailable++
				}
				if a.status/100 == 2 {
					ok200++
				}
				if a.end.Sub(a.start) > 6*time.Second {
					slow++
				}
			}
			r.notef("broker down: %d answers, %d were 503, %d were 2xx, %d took >6s", answered, unavailable, ok200, slow)
			if ok200 > 0 {
				r.failf("%d requests got 200 while the broker was down", ok200)
			}
			if other := answered - unavailable - ok200; other > 0 {
				r.failf("%d requests got an answer other than 503 while the broker was down", other)
			}
			if slow > 0 {
				r.failf("%d requests took longer than 5 s (+1 s slack) while the broker was down", slow)
			}
			if answered == 0 {
				r.failf("no request was answered while the broker was down (want 503)")
			}
			return nil
		},
	},
	{
		name:   "inbox 10% 5xx",
		proves: "random downstream errors are retried, never dead-lettered, never duplicated or reordered",
		full:   bulkFull, short: bulkShort, drainTimeout: 3 * time.Minute,
		before:  func(s *system) { s.inbox.setErrRate(0.10) },
		cleanup: func(s *system) { s.inbox.setErrRate(0) },
	},
	{
		name:   "inbox down 60s",
		proves: "a downstream outage ends with everything delivered late, in order, nothing dead-lettered",
		full:   bulkFull, short: bulkShort, drainTimeout: 4 * time.Minute,
		during: func(ctx context.Context, s *system, _ *result, short bool, _ time.Duration) error {
			s.inbox.setDown(true)
			defer s.inbox.setDown(false)
			return clock.Sleep(ctx, pick(short, 60*time.Second, 30*time.Second))
		},
	},
	{
		name:   "single event in outage",
		proves: "one order.updated arriving alone during a 60 s inbox outage is delivered after recovery, not dead-lettered",
		full:   oneEvent, short: oneEvent, drainTimeout: 3 * time.Minute,
		before: func(s *system) { s.inbox.setDown(true) },
		during: func(ctx context.Context, s *system, _ *result, short bool, _ time.Duration) error {
			defer s.inbox.setDown(false)
			return clock.Sleep(ctx, pick(short, 60*time.Second, 30*time.Second))
		},
		cleanup: func(s *system) { s.inbox.setDown(false) },
	},
	{
		name:   "captured re-post",
		proves: "re-posting a captured signed order.created with fresh unsigned id headers gets 200 and no second message",
		full:   load{orders: 300, customers: 0, products: 0, perSecond: 100, captured: true},
		short:  load{orders: 60, perSecond: 60, captured: true}, drainTimeout: 2 * time.Minute,
	},
	{
		name:   "ClickHouse down 30s",
		proves: "an analytics outage loses no outcome row and adds none twice",
		full:   bulkFull, short: bulkShort, drainTimeout: 3 * time.Minute,
		during: func(ctx context.Context, s *system, _ *result, short bool, traffic time.Duration) error {
			if err := clock.Sleep(ctx, traffic/4); err != nil {
				return err
			}
			if err := s.clickhouse(ctx, "stop"); err != nil {
				return err
			}
			if err := clock.Sleep(ctx, pick(short, 30*time.Second, 15*time.Second)); err != nil {
				return err
			}
			return s.clickhouse(ctx, "start")
		},
	},
	{
		name:   "DLQ replay old product",
		proves: "`shopstream replay` of an old product event does not move the catalog backwards",
		full:   load{products: 50, perSecond: 50}, short: load{products: 20, perSecond: 50}, drainTimeout: 2 * time.Minute,
		after: replayOldProduct,
	},
	{
		name:   "inbox Retry-After 3600",
		proves: "a 429 with Retry-After: 1 h holds no partition longer than SHOPSTREAM_RETRY_AFTER_MAX",
		full:   bulkFull, short: bulkShort, drainTimeout: 2*time.Minute + retryAfterMax,
		before:  func(s *system) { s.inbox.fail429(5, "3600") },
		cleanup: func(s *system) { s.inbox.fail429(0, "") },
	},
}
