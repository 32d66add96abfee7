package main

// The catalog burst benchmark (issue 9): burst size vs regenerations, and
// the time from the last accepted product event to the knowledge base
// holding the new document, with 1 and 3 processors. It is a load run, not
// a test: it asserts nothing about timing and is skipped unless
// SHOPSTREAM_BENCH_CATALOG is set. deploy/bench/catalog.sh runs it idle and
// beside a CPU hog and prints the table.
//
//	SHOPSTREAM_BENCH_CATALOG=100,1000,10000 SHOPSTREAM_BENCH_PROCESSORS=1,3 \
//	SHOPSTREAM_TEST_KAFKA=127.0.0.1:9092 go test -run TestCatalogBurstBenchmark -v ./cmd/shopstream

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopstream/shopstream/connectors/coze/cozetest"
	"github.com/shopstream/shopstream/connectors/inbox/inboxtest"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

func benchInts(t *testing.T, key, def string) []int {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		v = def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			t.Fatalf("%s=%q: %v", key, v, err)
		}
		out = append(out, n)
	}
	return out
}

func TestCatalogBurstBenchmark(t *testing.T) {
	if os.Getenv("SHOPSTREAM_BENCH_CATALOG") == "" {
		t.Skip("a load run: set SHOPSTREAM_BENCH_CATALOG=100,1000,10000 (deploy/bench/catalog.sh)")
	}
	sizes := benchInts(t, "SHOPSTREAM_BENCH_CATALOG", "")
	procs := benchInts(t, "SHOPSTREAM_BENCH_PROCESSORS", "1,3")
	label := os.Getenv("SHOPSTREAM_BENCH_LABEL")
	if label == "" {
		label = "idle"
	}
	out := os.Getenv("SHOPSTREAM_BENCH_OUT")
	for _, n := range procs {
		for _, size := range sizes {
			t.Run(fmt.Sprintf("%dp-%d", n, size), func(t *testing.T) {
				row := catalogBurstRun(t, n, size)
				line := fmt.Sprintf("| %s | %d | %d | %.1f | %d | %d | %.2f | %.2f |", label, n, size, row.accept.Seconds(), row.uploads, row.syncs,
					row.lastToLive.Seconds(), row.allDone.Seconds())
				t.Log(line)
				if out != "" {
					f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
					if err == nil {
						_, werr := fmt.Fprintln(f, line)
						if cerr := f.Close(); werr == nil {
							werr = cerr
						}
						if werr != nil {
							t.Logf("writing %s: %v", out, werr)
						}
					}
				}
			})
		}
	}
}

type burstRow struct {
	accept     time.Duration // first to last accepted event (received-at)
	uploads    int           // documents created in the knowledge base
	syncs      int           // regenerations (uploaded + unchanged)
	lastToLive time.Duration // last accepted event -> the final document created
	allDone    time.Duration // last accepted event -> every event's completed outcome seen
}

// catalogBurstRun posts size product events (size/5 products, 5 versions
// each, 50 lanes) through the real ingress to n processors with the default
// window (2 s quiet, 30 s max wait).
func catalogBurstRun(t *testing.T, n, size int) burstRow {
	inbox := inboxtest.Start(t, inboxToken)
	kb := cozetest.Start(t, cozeToken, cozeDataset)
	kb.SetProcessPolls(0)
	cfg := testConfig(t, append(append(inboxEnv(inbox), cozeEnv(kb)...),
		"SHOPSTREAM_CATALOG_QUIET=2s", "SHOPSTREAM_CATALOG_MAX_WAIT=30s", "SHOPSTREAM_LOG_LEVEL=warn")...)
	resetKafka(t, cfg)
	events := tailTopic(t, cfg, schemas.TopicEvents)
	startServe(t, cfg)
	var roles []*role
	for range n {
		roles = append(roles, startProcess(t, cfg, newRegistry()))
	}
	waitGroupMembers(t, cfg, schemas.GroupProcessor, n, 60*time.Second)
	waitGroupMembers(t, cfg, schemas.GroupCatalog, n, 60*time.Second)

	products := max(1, size/5)
	lanes := make([][]webhook, min(50, products))
	var ids []string
	base := time.Now().Add(-time.Hour)
	for i := range size {
		p := i%products + 1
		ts := base.Add(time.Duration(i) * time.Millisecond)
		ev := pipeline.ProductUpdated
		if i < products {
			ev = pipeline.ProductCreated
		}
		body := productBody(ev, p, fmt.Sprintf("Product %d v%d", p, i/products), fmt.Sprintf("%d.%02d", 10+p, i%100), ts)
		lanes[(p-1)%len(lanes)] = append(lanes[(p-1)%len(lanes)], webhook{"product", body})
		ids = append(ids, pipeline.BodyEventID(body))
	}
	postLanes(t, cfg, lanes)
	outs := events.WaitOutcomes(t, 10*time.Minute, "every product event completed by a sync", func(o []pipeline.Outcome) bool {
		return completedAll(o, ids)
	})
	doneAt := time.Now()
	// Trailing regenerations would come within a quiet period or two.
	time.Sleep(2 * cfg.CatalogQuiet)

	var first, last time.Time
	for _, o := range outs {
		if o.Status != pipeline.StatusCompleted {
			continue
		}
		if first.IsZero() || o.ReceivedAt.Before(first) {
			first = o.ReceivedAt
		}
		if o.ReceivedAt.After(last) {
			last = o.ReceivedAt
		}
	}
	docs := kb.Documents()
	if len(docs) != 1 {
		t.Errorf("knowledge base holds %d documents, want 1", len(docs))
	}
	var live time.Time
	for _, d := range docs {
		if d.Created.After(live) {
			live = d.Created
		}
	}
	syncs := catalogSyncs(t, roles...)
	return burstRow{accept: last.Sub(first), uploads: kb.Uploads(), syncs: int(syncs["uploaded"] + syncs["unchanged"]),
		lastToLive: live.Sub(last), allDone: doneAt.Sub(last)}
}
