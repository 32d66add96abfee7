// Package lifecycle runs a role's long-lived parts together: every part's
// Run until the context ends or one part fails, then every Close in reverse
// order within a bounded drain. It owns no I/O of its own and imports only
// the standard library and errgroup.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"
)

// DefaultDrain bounds how long Run waits for the Close functions together.
const DefaultDrain = 30 * time.Second

// Part is one long-lived component: Run runs until ctx ends, drains and
// returns. Close, when set, runs after every part's Run returned (flush the
// producer after the server stopped accepting). Either may be nil.
type Part struct {
	Name  string
	Run   func(ctx context.Context) error
	Close func(ctx context.Context) error
}

// Supervisor runs parts; the zero value drains for DefaultDrain and logs
// nothing.
type Supervisor struct {
	Log   *slog.Logger
	Drain time.Duration
}

// Run runs every part until ctx ends or one part's Run fails (which cancels
// the others), then calls the Close functions in reverse order with one
// deadline of s.Drain for all of them. A Run that returns context.Canceled
// is a clean stop. The error joins the first Run failure and every Close
// failure.
func (s Supervisor) Run(ctx context.Context, parts ...Part) error {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	drain := s.Drain
	if drain <= 0 {
		drain = DefaultDrain
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range parts {
		if p.Run == nil {
			continue
		}
		g.Go(func() error {
			if err := p.Run(gctx); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
			return nil
		})
	}
	err := g.Wait()
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	err = errors.Join(err, closeAll(drainCtx, log, parts))
	log.Info("stopped")
	return err
}

// Close calls the Close functions of parts whose Run never started, last
// first, and joins their errors: the cleanup of a role whose wiring failed
// halfway.
func Close(ctx context.Context, log *slog.Logger, parts ...Part) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return closeAll(ctx, log, parts)
}

func closeAll(ctx context.Context, log *slog.Logger, parts []Part) error {
	var err error
	for i := len(parts) - 1; i >= 0; i-- {
		if parts[i].Close == nil {
			continue
		}
		if cerr := parts[i].Close(ctx); cerr != nil {
			log.Error("close failed", "part", parts[i].Name, "error", cerr)
			err = errors.Join(err, fmt.Errorf("close %s: %w", parts[i].Name, cerr))
		}
	}
	return err
}

// Run is Supervisor{Log: log}.Run.
func Run(ctx context.Context, log *slog.Logger, parts ...Part) error {
	return Supervisor{Log: log}.Run(ctx, parts...)
}
