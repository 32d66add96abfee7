// Command chaos runs the real shopstream system — 1 serve, 3 process, 1
// sink, the local Kafka and ClickHouse — under the faults issue 8 names and
// prints one table row per scenario. It exits non-zero when any scenario
// breaks a delivery guarantee, and says which and why.
//
//	go run ./deploy/chaos            # make chaos: the full suite
//	go run ./deploy/chaos -short     # make chaos-short: fewer events, shorter outages (CI)
//	go run ./deploy/chaos -soak coze-down -duration 10m   # make soak: bounded memory (soak.go)
//
// It owns the chaos port block: the suite Kafka 19500/19501, ClickHouse
// 19510/19511, its own servers 19520-19531; the soak the same from 19550.
// Data, logs and its build of shopstream live in var/chaos or var/soak (or
// $SHOPSTREAM_VAR). Everything listens on 127.0.0.1.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	os.Exit(runChaos())
}

// runChaos runs the suite and returns the exit code, so that its deferred
// teardown runs before main exits.
func runChaos() int {
	short := flag.Bool("short", false, "fewer events and shorter outages (CI)")
	reuse := flag.Bool("reuse-infra", false, "use the Kafka and ClickHouse already running on the chaos ports; do not start or stop them")
	only := flag.String("only", "", "run only scenarios whose name contains one of these (comma-separated)")
	soak := flag.String("soak", "", "run the bounded-memory benchmark instead of the suite: coze-down, inbox-down or both (comma-separated, one after the other)")
	duration := flag.Duration("duration", 10*time.Minute, "soak: how long the downstream is down while traffic flows")
	rate := flag.Float64("rate", 0, "soak: events per second (0: 50 for coze-down, 200 for inbox-down)")
	rssLimit := flag.Float64("rss-limit", 256, "soak: MB of resident memory no shopstream process may exceed")
	portBase := flag.Int("port-base", 0, "first port of the run's block inside 19500-19599 (0: 19500 for the suite, 19550 for the soak)")
	flag.Parse()

	varName, base := "chaos", 19500
	var soaks []soakKind
	if *soak != "" {
		varName, base = "soak", 19550
		for _, name := range strings.Split(*soak, ",") {
			k, ok := soakKinds[strings.TrimSpace(name)]
			if !ok {
				fail(fmt.Errorf("-soak %q: want coze-down or inbox-down", name))
			}
			soaks = append(soaks, k)
		}
	}
	if *portBase != 0 {
		base = *portBase
	}
	if err := setPorts(base); err != nil {
		fail(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	repo, err := os.Getwd()
	if err != nil {
		fail(err)
	}
	if _, err := os.Stat(repo + "/cmd/shopstream"); err != nil {
		fail(fmt.Errorf("run from the repository root (go run ./deploy/chaos): %w", err))
	}
	sys, err := up(ctx, repo, *reuse, varName)
	if err != nil {
		sys.down()
		fail(err)
	}
	defer sys.down()
	tag := randText(4)
	if len(soaks) > 0 {
		return runSoaks(ctx, sys, tag, soaks, *duration, *rate, *rssLimit)
	}
	var results []*result
	for i, sc := range scenarios {
		if *only != "" && !matchesAny(sc.name, *only) {
			continue
		}
		logf("scenario %d: %s", i+1, sc.name)
		r := sys.run(ctx, tag, i+1, sc, *short)
		results = append(results, r)
		printRow(os.Stderr, r)
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Println()
	printTable(os.Stdout, results)
	return verdict(results, "scenarios") // on 1, the deferred sys.down tears the system down
}

// verdict prints every run's notes and failures and the summary line, and
// returns the exit code: 1 when any run failed.
func verdict(results []*result, what string) int {
	failed := 0
	for _, r := range results {
		if !r.pass() {
			failed++
		}
	}
	fmt.Println()
	for _, r := range results {
		for _, n := range r.notes {
			fmt.Printf("note  %-26s %s\n", r.name+":", n)
		}
		for _, f := range r.failures {
			fmt.Printf("FAIL  %-26s %s\n", r.name+":", f)
		}
	}
	if failed > 0 {
		fmt.Printf("\n%d of %d %s failed\n", failed, len(results), what)
		return 1
	}
	fmt.Printf("\nall %d %s passed\n", len(results), what)
	return 0
}

func matchesAny(name, list string) bool {
	for _, w := range strings.Split(list, ",") {
		if w = strings.TrimSpace(w); w != "" && strings.Contains(strings.ToLower(name), strings.ToLower(w)) {
			return true
		}
	}
	return false
}

const header = "scenario\tsent\taccepted\tdelivered\tlost\tdup posts\tdup msgs\tout-of-order\tDLQ\tCH missing/twice\tdrain\tpeak RSS\tresult"

func row(r *result) string {
	drain := r.drain.Round(100 * time.Millisecond).String()
	if !r.drained {
		drain = ">" + drain
	}
	verdict := "PASS"
	if !r.pass() {
		verdict = "FAIL"
	}
	return fmt.Sprintf("%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d/%d\t%s\t%.0f MB\t%s",
		r.name, r.sent, r.accepted, r.delivered, r.lost, r.dupPosts, r.dupMessages, r.outOrder, r.dlq,
		r.chMissing, r.chTwice, drain, r.peakMB, verdict)
}

func printRow(w io.Writer, r *result) {
	_, _ = fmt.Fprintf(w, "[%s] chaos: %s\n", time.Now().UTC().Format("15:04:05"), strings.ReplaceAll(row(r), "\t", " | "))
}

// printTable prints a Markdown table (it reads as text too).
func printTable(w io.Writer, results []*result) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	// A report on the terminal: a failed write has nowhere better to go.
	_, _ = fmt.Fprintln(tw, "| "+strings.ReplaceAll(header, "\t", "\t| ")+"\t|")
	_, _ = fmt.Fprintln(tw, "|"+strings.Repeat("---\t|", strings.Count(header, "\t")+1))
	for _, r := range results {
		_, _ = fmt.Fprintln(tw, "| "+strings.ReplaceAll(row(r), "\t", "\t| ")+"\t|")
	}
	_ = tw.Flush()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "chaos:", err)
	os.Exit(2)
}
