package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/shopstream/shopstream/connectors/kafka/replay"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// runReplay puts dead letters back into the flow.
func runReplay(ctx context.Context, args []string) error {
	var eventTypes, eventIDs, since, until, group string
	var dryRun bool
	var perSecond float64
	cfg, log, err := commonFlags(RoleReplay, args, func(fs *flag.FlagSet) {
		fs.StringVar(&eventTypes, "event-type", "", "only these event types (comma-separated)")
		fs.StringVar(&eventIDs, "event-id", "", "only these event ids (comma-separated)")
		fs.StringVar(&since, "since", "", "only dead letters failed at or after (RFC 3339, or a duration back from now: 2h)")
		fs.StringVar(&until, "until", "", "only dead letters failed before (RFC 3339 or duration)")
		fs.BoolVar(&dryRun, "dry-run", false, "list what would be replayed; produce and commit nothing")
		fs.Float64Var(&perSecond, "rate", 50, "records per second at most (0 = unlimited)")
		fs.StringVar(&group, "group", schemas.GroupReplay, "consumer group that remembers how far replay got")
	})
	if err != nil {
		return err
	}
	filter, err := pipeline.ParseReplayFilter(eventTypes, eventIDs, since, until, time.Now())
	if err != nil {
		return fmt.Errorf("%w: replay: %w", errUsage, err)
	}
	if perSecond < 0 {
		return fmt.Errorf("%w: replay: --rate must not be negative", errUsage)
	}
	bar := newProgressBar(os.Stderr)
	prog, err := replay.Replay(ctx, kafkaConfig(cfg), replay.Config{
		Group: group, Filter: filter, DryRun: dryRun, Rate: perSecond, Progress: bar.update,
	}, log)
	bar.done()
	verb := "replayed"
	if dryRun {
		verb = "would replay"
	}
	fmt.Printf("%s %d of %d dead letters (%d filtered out)\n", verb, prog.Replayed, prog.Total, prog.Skipped)
	return err
}

// progressBar redraws one line on a terminal, and prints a line every
// second elsewhere (logs, CI).
type progressBar struct {
	f    *os.File
	tty  bool
	last time.Time
}

func newProgressBar(f *os.File) *progressBar {
	st, err := f.Stat()
	return &progressBar{f: f, tty: err == nil && st.Mode()&os.ModeCharDevice != 0}
}

func (b *progressBar) update(p replay.Progress) {
	if time.Since(b.last) < 200*time.Millisecond && p.Seen < p.Total {
		return
	}
	if !b.tty && time.Since(b.last) < time.Second && p.Seen < p.Total {
		return
	}
	b.last = time.Now()
	const width = 30
	filled := width
	if p.Total > 0 {
		filled = int(int64(width) * p.Seen / p.Total)
	}
	line := fmt.Sprintf("[%s%s] %d/%d  replayed %d  filtered %d",
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), p.Seen, p.Total, p.Replayed, p.Skipped)
	if b.tty {
		_, _ = fmt.Fprint(b.f, "\r"+line) // progress display only
	} else {
		_, _ = fmt.Fprintln(b.f, line)
	}
}

func (b *progressBar) done() {
	if b.tty && !b.last.IsZero() {
		_, _ = fmt.Fprintln(b.f)
	}
}
