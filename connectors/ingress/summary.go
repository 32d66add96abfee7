package ingress

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Summary counts webhook outcomes and logs them at info once per interval:
// "webhooks accepted=N refused=M" with one attribute per refusal reason. It
// is the steady, cheap picture of the ingress at the default log level; the
// per-request lines are at debug and the counters are in /metrics.
type Summary struct {
	interval time.Duration
	log      *slog.Logger

	mu     sync.Mutex
	counts map[string]int64 // by outcome
}

// NewSummary returns a summary that logs every interval.
func NewSummary(interval time.Duration, log *slog.Logger) *Summary {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Summary{interval: interval, log: log, counts: map[string]int64{}}
}

// Observe counts one request's outcome.
func (s *Summary) Observe(outcome string) {
	s.mu.Lock()
	s.counts[outcome]++
	s.mu.Unlock()
}

// Run logs a summary every interval until ctx ends, then logs what was
// counted since the last one.
func (s *Summary) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.flush(ctx)
		case <-ctx.Done():
			s.flush(context.WithoutCancel(ctx))
			return nil
		}
	}
}

// flush logs and resets the counts; a quiet interval logs nothing.
func (s *Summary) flush(ctx context.Context) {
	s.mu.Lock()
	counts := s.counts
	s.counts = map[string]int64{}
	s.mu.Unlock()
	if len(counts) == 0 {
		return
	}
	var refused int64
	reasons := make([]string, 0, len(counts))
	for outcome, n := range counts {
		if outcome != outcomeAccepted {
			refused += n
			reasons = append(reasons, outcome)
		}
	}
	sort.Strings(reasons)
	attrs := make([]slog.Attr, 0, 3+len(reasons))
	attrs = append(attrs,
		slog.Duration("interval", s.interval),
		slog.Int64("accepted", counts[outcomeAccepted]),
		slog.Int64("refused", refused),
	)
	for _, r := range reasons {
		attrs = append(attrs, slog.Int64("refused_"+r, counts[r]))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "webhooks", attrs...)
}
