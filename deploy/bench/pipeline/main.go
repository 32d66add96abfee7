// Command pipeline is shopstream's end-to-end benchmark: in one invocation it
// starts the support inbox and Coze fakes in-process, runs `shopstream serve`
// and `shopstream process` as subprocesses against a real Kafka broker, and
// measures what the README promises of the whole pipeline:
//
//  1. coalescing: a burst of product events becomes one catalog upload;
//  2. notification latency: order.updated events sent open-loop at a steady
//     rate, timed from the ingress's 200 OK to the inbox storing the message;
//  3. the processor's own metrics for both.
//
// It prints a Markdown table on stdout (progress goes to stderr) and exits
// non-zero only when the run could not be carried out; goals missed are
// reported in the table, not as a failure.
//
// Before the run it resets the broker's shopstream state (every evershop.* and
// shopstream.* topic, every shopstream-* group) and runs `shopstream topics`,
// so the broker must not be shared with a concurrent run: deploy/bench/pipeline.sh
// holds /tmp/shopstream-it.lock around it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

type options struct {
	bin       string
	brokers   []string
	reset     bool
	logDir    string
	quiet     time.Duration
	maxWait   time.Duration
	startup   time.Duration
	warmup    int
	products  int
	ids       int
	burstC    int
	idle      time.Duration
	syncWait  time.Duration
	rate      float64
	duration  time.Duration
	workers   int
	drain     time.Duration
	customer  int
	logLevel  string
	stopGrace time.Duration
	csvPath   string
	brokerPID int

	cost             bool
	costRequests     int
	costWarmup       int
	costConns        int
	costOrders       int
	clickhouse       string
	clickhousePID    int
	costOnly         string
	costProfile      string
	costBrokerWarmup int
}

func main() {
	var o options
	var brokers string
	flag.StringVar(&o.bin, "bin", "bin/shopstream", "the shopstream binary to run")
	flag.StringVar(&brokers, "brokers", envOr("SHOPSTREAM_KAFKA_BROKERS", "127.0.0.1:9092"), "Kafka seed brokers, comma-separated")
	flag.BoolVar(&o.reset, "reset", true, "delete evershop.*/shopstream.* topics and shopstream-* groups, then run `shopstream topics`")
	flag.StringVar(&o.logDir, "logdir", "", "where serve.log and process.log go (default: a new temporary directory)")
	flag.DurationVar(&o.quiet, "catalog-quiet", 2*time.Second, "SHOPSTREAM_CATALOG_QUIET for process")
	flag.DurationVar(&o.maxWait, "catalog-max-wait", 30*time.Second, "SHOPSTREAM_CATALOG_MAX_WAIT for process")
	flag.DurationVar(&o.startup, "startup-timeout", 60*time.Second, "how long serve and process may take to become ready")
	flag.IntVar(&o.warmup, "warmup", 20, "order events sent (and waited for) before measuring, so the groups have joined")
	flag.IntVar(&o.products, "products", 1000, "product events in the coalescing burst")
	flag.IntVar(&o.ids, "product-ids", 300, "distinct product ids the burst is spread over")
	flag.IntVar(&o.burstC, "burst-conns", 16, "connections posting the burst")
	flag.DurationVar(&o.idle, "idle", 5*time.Second, "the catalog is settled once Coze has seen no request for this long")
	flag.DurationVar(&o.syncWait, "sync-timeout", 120*time.Second, "how long to wait for the burst's catalog syncs")
	flag.Float64Var(&o.rate, "rate", 500, "order.updated events per second (open loop)")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "how long the order load runs")
	flag.IntVar(&o.workers, "workers", 32, "concurrent senders (and connections) for the order load")
	flag.DurationVar(&o.drain, "drain-timeout", 60*time.Second, "how long to wait for the last notifications after the load")
	flag.IntVar(&o.customer, "customers", 0, "distinct customers the orders belong to (0: one per order, every message a first contact)")
	flag.StringVar(&o.logLevel, "log-level", "warn", "SHOPSTREAM_LOG_LEVEL for serve and process")
	flag.DurationVar(&o.stopGrace, "stop-grace", 20*time.Second, "how long serve and process may take to stop on SIGTERM before SIGQUIT/SIGKILL")
	flag.StringVar(&o.csvPath, "csv", "", "also write one line per order event (offsets in ms from the load's start) to this file")
	flag.IntVar(&o.brokerPID, "broker-pid", 0, "the local broker's pid, to report its CPU use during the load (0: not reported separately)")
	flag.BoolVar(&o.cost, "cost", false, "instead of the latency run: the cost-per-event table (ingress, ceiling, raw producer, processor and sink scale-out)")
	flag.IntVar(&o.costRequests, "cost-requests", 30000, "-cost: webhooks per ingress load (a fixed load, measured by CPU time)")
	flag.IntVar(&o.costWarmup, "cost-warmup", 2000, "-cost: unmeasured webhooks before each load")
	flag.IntVar(&o.costConns, "cost-conns", 64, "-cost: concurrent connections (and raw producer goroutines)")
	flag.IntVar(&o.costOrders, "cost-orders", 10000, "-cost: order events in each processor backlog")
	flag.StringVar(&o.clickhouse, "clickhouse", "", "-cost: ClickHouse DSN for the sink phase (empty: skipped)")
	flag.IntVar(&o.clickhousePID, "clickhouse-pid", 0, "-cost: the local ClickHouse server's pid, to count its CPU")
	flag.StringVar(&o.costOnly, "cost-only", "", "-cost: only these phases, comma-separated: ingress, ceiling, raw, processor, sink (default all)")
	flag.StringVar(&o.costProfile, "cost-profile", "", "-cost: write 4-s CPU profiles of serve and process under load here (needs a -bin with /debug/pprof on its admin listener)")
	flag.IntVar(&o.costBrokerWarmup, "cost-broker-warmup", 40000, "-cost: records written (unmeasured) before the first phase, so the broker's JIT has compiled its produce path")
	noop := flag.String("serve-noop", "", "instead of a run: serve the ingress with a no-op publisher on this address (the ceiling, started by -cost)")
	flag.Parse()
	if *noop != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := serveNoop(ctx, *noop)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench ceiling:", err)
			os.Exit(1)
		}
		return
	}
	o.brokers = pipeline.SplitList(brokers)
	if flag.NArg() > 0 || len(o.brokers) == 0 || o.products < 1 || o.ids < 1 || o.burstC < 1 ||
		o.rate <= 0 || o.duration <= 0 || o.workers < 1 || o.customer < 0 || o.warmup < 0 {
		flag.Usage()
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first ctrl-c the run winds down and stops its
		// subprocesses; a second one kills the benchmark at once (the
		// kernel then kills the subprocesses: Pdeathsig).
		<-ctx.Done()
		stop()
	}()
	fn := run
	if o.cost {
		fn = runCost
	}
	err := fn(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench pipeline:", err)
		if errors.Is(err, context.Canceled) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) (err error) {
	started := time.Now()
	if o.logDir == "" {
		if o.logDir, err = os.MkdirTemp("", "shopstream-bench-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(o.logDir, 0o755); err != nil {
		return err
	}
	logf("logs in %s", o.logDir)

	if o.reset {
		logf("resetting Kafka state on %s", strings.Join(o.brokers, ","))
		if err := resetKafka(ctx, o.brokers); err != nil {
			return fmt.Errorf("reset kafka: %w", err)
		}
	}

	st, err := startStack(ctx, o)
	// Every subprocess is stopped on the way out, whatever happened; the
	// fakes close after them so that a draining processor is not refused.
	defer st.stop(ctx)
	if err != nil {
		return err
	}
	logf("serve %s, process admin %s, inbox fake %s, coze fake %s", st.ingressURL, st.processAdmin, st.inboxURL, st.cozeURL)

	r := &report{opts: o}
	gen := newGenerator(st)

	if o.warmup > 0 {
		logf("warm-up: %d order events", o.warmup)
		if err := gen.warmup(ctx, o.warmup); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}

	logf("coalescing: %d product events over %d ids, %d connections", o.products, o.ids, o.burstC)
	if err := gen.burst(ctx, o, r); err != nil {
		return fmt.Errorf("coalescing: %w", err)
	}

	logf("latency: order.updated at %.0f/s for %s, %d workers", o.rate, o.duration, o.workers)
	if err := gen.steady(ctx, o, r); err != nil {
		return fmt.Errorf("latency: %w", err)
	}

	if err := r.scrape(ctx, st); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	r.violations = append(st.inbox.Violations(), st.coze.Violations()...)
	r.exits = st.exitedEarly()
	r.wall = time.Since(started)
	fmt.Print(r.markdown())
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
