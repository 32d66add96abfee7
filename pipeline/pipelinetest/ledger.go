// Package pipelinetest holds conformance suites for the interfaces that
// package pipeline declares and connectors implement, so that a fake and the
// real thing cannot drift apart. It imports only pipeline and the standard
// library.
package pipelinetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// OpenLedger opens a ledger over the durable state called name. Opening the
// same name again (in the same test) must give a ledger over the same state,
// as a restarted process would see it; the suite calls it again only after
// it stopped using the previous ledger. Different names are independent.
type OpenLedger func(t *testing.T, name string) pipeline.OrderLedger

var ledgerT0 = time.Date(2026, 11, 21, 15, 2, 11, 0, time.UTC)

// step builds an order step; at is seconds after ledgerT0.
func step(order, event, status string, at int) pipeline.OrderStep {
	return pipeline.OrderStep{OrderID: order, EventID: event, Status: status,
		Rank: pipeline.OrderRank(status), UpdatedAt: ledgerT0.Add(time.Duration(at) * time.Second)}
}

// LedgerConformance checks the semantics documented on pipeline.OrderLedger.
// Run it against every implementation:
//
//	pipelinetest.LedgerConformance(t, func(t *testing.T, name string) pipeline.OrderLedger { ... })
func LedgerConformance(t *testing.T, open OpenLedger) {
	t.Helper()
	type claim struct {
		step pipeline.OrderStep
		want pipeline.OrderVerdict
	}
	send, dup, sup := pipeline.OrderSend, pipeline.OrderDuplicate, pipeline.OrderSuperseded
	cases := []struct {
		name   string
		claims []claim
	}{
		{"first step of an order is sent", []claim{{step("o1", "e1", "processing", 0), send}}},
		{"newer time is sent", []claim{{step("o1", "e1", "processing", 0), send}, {step("o1", "e2", "shipped", 60), send}}},
		{"older time is superseded", []claim{{step("o1", "e2", "shipped", 60), send}, {step("o1", "e1", "processing", 0), sup}}},
		{"older by a nanosecond", []claim{
			{step("o1", "e2", "shipped", 60), send},
			{pipeline.OrderStep{OrderID: "o1", EventID: "e1", Status: "delivered", Rank: pipeline.OrderRank("delivered"), UpdatedAt: ledgerT0.Add(time.Minute - 1)}, sup}}},
		{"newer time wins over a lower rank", []claim{{step("o1", "e1", "delivered", 0), send}, {step("o1", "e2", "processing", 1), send}}},
		{"same time, higher rank is sent", []claim{{step("o1", "e1", "processing", 0), send}, {step("o1", "e2", "shipped", 0), send}}},
		{"same time, lower rank is superseded", []claim{{step("o1", "e2", "shipped", 0), send}, {step("o1", "e1", "processing", 0), sup}}},
		{"same time and rank, another event is a duplicate", []claim{{step("o1", "e1", "shipped", 0), send}, {step("o1", "e2", "shipped", 0), dup}}},
		{"same time and rank, other status is a duplicate", []claim{{step("o1", "e1", "closed", 0), send}, {step("o1", "e2", "canceled", 0), dup}}},
		{"the claiming event is sent again", []claim{{step("o1", "e1", "shipped", 0), send}, {step("o1", "e1", "shipped", 0), send}, {step("o1", "e1", "shipped", 0), send}}},
		{"a retry of a superseded event stays superseded", []claim{
			{step("o1", "e1", "processing", 0), send}, {step("o1", "e2", "shipped", 60), send}, {step("o1", "e1", "processing", 0), sup}}},
		{"confirmation after a status update is superseded", []claim{{step("o1", "e2", "processing", 0), send}, {step("o1", "e1", "new", 0), sup}}},
		{"confirmation before a status update", []claim{{step("o1", "e1", "new", 0), send}, {step("o1", "e2", "processing", 0), send}}},
		{"a verdict that is not send changes nothing", []claim{
			{step("o1", "e1", "shipped", 60), send},
			{step("o1", "e2", "processing", 0), sup},
			{step("o1", "e3", "shipped", 60), dup},
			{step("o1", "e1", "shipped", 60), send},
			{step("o1", "e4", "processing", 30), sup}}},
		{"the claim moves to the newest send", []claim{
			{step("o1", "e1", "processing", 0), send},
			{step("o1", "e2", "shipped", 60), send},
			{step("o1", "e1", "processing", 0), sup},
			{step("o1", "e3", "delivered", 120), send},
			{step("o1", "e2", "shipped", 60), sup}}},
		{"orders are independent", []claim{
			{step("o1", "e1", "delivered", 120), send},
			{step("o2", "e2", "processing", 0), send},
			{step("o2", "e3", "processing", 0), dup},
			{step("o1", "e4", "processing", 0), sup}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := open(t, "cases")
			// Each case uses its own order ids so that implementations
			// whose state outlives a subtest still see fresh orders.
			prefix := c.name + "/"
			for i, cl := range c.claims {
				s := cl.step
				s.OrderID = prefix + s.OrderID
				got, err := l.Claim(t.Context(), s)
				if err != nil {
					t.Fatalf("claim %d (%s %s of %s): %v", i+1, s.EventID, s.Status, s.OrderID, err)
				}
				if got != cl.want {
					t.Fatalf("claim %d (%s %s of %s at %s) = %s, want %s", i+1, s.EventID, s.Status, s.OrderID,
						s.UpdatedAt.Format(time.RFC3339Nano), got, cl.want)
				}
			}
		})
	}

	// ClaimBatch: every case as one run must give the verdicts of
	// successive Claims.
	for _, c := range cases {
		t.Run("batch/"+c.name, func(t *testing.T) {
			l := open(t, "batch")
			prefix := "batch/" + c.name + "/"
			steps := make([]pipeline.OrderStep, len(c.claims))
			for i, cl := range c.claims {
				steps[i] = cl.step
				steps[i].OrderID = prefix + cl.step.OrderID
			}
			got, err := l.ClaimBatch(t.Context(), steps)
			if err != nil {
				t.Fatalf("ClaimBatch: %v", err)
			}
			if len(got) != len(steps) {
				t.Fatalf("ClaimBatch gave %d verdicts for %d steps", len(got), len(steps))
			}
			for i, cl := range c.claims {
				if got[i] != cl.want {
					t.Fatalf("step %d (%s %s of %s) = %s, want %s", i+1, cl.step.EventID, cl.step.Status, steps[i].OrderID, got[i], cl.want)
				}
			}
		})
	}

	t.Run("batch claims survive a reopen", func(t *testing.T) {
		l := open(t, "batch-durable")
		got, err := l.ClaimBatch(t.Context(), []pipeline.OrderStep{
			step("o1", "e1", "processing", 0), step("o2", "e3", "new", 0), step("o1", "e2", "shipped", 60)})
		if err != nil || fmt.Sprint(got) != fmt.Sprint([]pipeline.OrderVerdict{send, send, send}) {
			t.Fatalf("ClaimBatch = %v, %v; want three sends", got, err)
		}
		l = open(t, "batch-durable")
		for _, cl := range []claim{
			{step("o1", "e1", "processing", 0), sup},
			{step("o1", "e9", "shipped", 60), dup},
			{step("o1", "e2", "shipped", 60), send},
			{step("o2", "e3", "new", 0), send},
		} {
			if v, err := l.Claim(t.Context(), cl.step); err != nil || v != cl.want {
				t.Fatalf("after reopen, Claim(%s %s of %s) = %s, %v; want %s", cl.step.EventID, cl.step.Status, cl.step.OrderID, v, err, cl.want)
			}
		}
	})

	t.Run("a batch with an invalid step decides nothing", func(t *testing.T) {
		l := open(t, "batch-invalid")
		if v, err := l.ClaimBatch(t.Context(), []pipeline.OrderStep{step("o1", "e1", "shipped", 0), step("o2", "", "shipped", 0)}); err == nil {
			t.Fatalf("ClaimBatch with an invalid step = %v, want an error", v)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if v, err := l.ClaimBatch(ctx, []pipeline.OrderStep{step("o1", "e1", "shipped", 0)}); err == nil {
			t.Fatalf("ClaimBatch with a canceled context = %v, want an error", v)
		}
		// Had e1 been claimed, another event at its time and rank would
		// be a duplicate.
		if v, err := l.Claim(t.Context(), step("o1", "e2", "shipped", 0)); err != nil || v != send {
			t.Fatalf("Claim after refused batches = %s, %v; want send", v, err)
		}
		if v, err := l.ClaimBatch(t.Context(), nil); err != nil || len(v) != 0 {
			t.Fatalf("empty ClaimBatch = %v, %v", v, err)
		}
	})

	t.Run("invalid steps are refused", func(t *testing.T) {
		l := open(t, "invalid")
		for _, s := range []pipeline.OrderStep{step("", "e1", "shipped", 0), step("o1", "", "shipped", 0)} {
			if v, err := l.Claim(t.Context(), s); err == nil {
				t.Errorf("Claim(%+v) = %s, want an error", s, v)
			}
		}
	})

	t.Run("a done context gets no send", func(t *testing.T) {
		l := open(t, "canceled")
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if v, err := l.Claim(ctx, step("o1", "e1", "shipped", 0)); err == nil {
			t.Errorf("Claim with a canceled context = %s, want an error", v)
		}
	})

	t.Run("claims survive a reopen", func(t *testing.T) {
		l := open(t, "durable")
		for _, s := range []pipeline.OrderStep{step("o1", "e1", "processing", 0), step("o1", "e2", "shipped", 60), step("o2", "e3", "new", 0)} {
			if v, err := l.Claim(t.Context(), s); err != nil || v != send {
				t.Fatalf("Claim(%s) = %s, %v", s.EventID, v, err)
			}
		}
		l = open(t, "durable")
		for _, cl := range []claim{
			{step("o1", "e1", "processing", 0), sup},
			{step("o1", "e9", "shipped", 60), dup},
			{step("o1", "e2", "shipped", 60), send},
			{step("o2", "e3", "new", 0), send},
			{step("o1", "e4", "delivered", 120), send},
		} {
			if v, err := l.Claim(t.Context(), cl.step); err != nil || v != cl.want {
				t.Fatalf("after reopen, Claim(%s %s of %s) = %s, %v; want %s", cl.step.EventID, cl.step.Status, cl.step.OrderID, v, err, cl.want)
			}
		}
	})

	t.Run("concurrent claims of one order", func(t *testing.T) {
		l := open(t, "concurrent")
		// 64 steps with distinct times, claimed in parallel in scrambled
		// order. Which of the older ones are sent depends on the
		// interleaving; the newest is always sent (nothing newer can
		// precede it), none is a duplicate, and the newest ends up holding
		// the claim.
		const n = 64
		verdicts := make([]pipeline.OrderVerdict, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				j := (i * 37) % n // scramble
				v, err := l.Claim(t.Context(), step("o1", fmt.Sprintf("e%d", j), "shipped", j))
				if err != nil {
					t.Errorf("claim e%d: %v", j, err)
				}
				verdicts[j] = v
			}()
		}
		wg.Wait()
		if verdicts[n-1] != send {
			t.Errorf("newest step got %s, want send", verdicts[n-1])
		}
		for j, v := range verdicts {
			if v == dup {
				t.Errorf("step e%d got duplicate; every step has its own time", j)
			}
		}
		// Whatever the interleaving, the newest step holds the claim.
		checks := []claim{
			{step("o1", fmt.Sprintf("e%d", n-1), "shipped", n-1), send},
			{step("o1", "other", "shipped", n-1), dup},
			{step("o1", "older", "delivered", n-2), sup},
		}
		for _, cl := range checks {
			if v, err := l.Claim(t.Context(), cl.step); err != nil || v != cl.want {
				t.Errorf("after concurrent claims, Claim(%s) = %s, %v; want %s", cl.step.EventID, v, err, cl.want)
			}
		}
	})
}
