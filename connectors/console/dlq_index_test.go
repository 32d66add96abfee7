package console

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/replay"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// dlqBroker is a kfake broker with a two-partition evershop.dlq and a
// client writing dead letters to the partition asked for.
type dlqBroker struct {
	t   *testing.T
	cfg kafka.Config
	cl  *kgo.Client
	adm *kadm.Client
	n   int // dead letters written so far (ids and failed-at times follow it)
	// later moves failed-at times: a repeat of an id must not tie with the
	// first (among equal times a full read lists in fetch order, which
	// interleaves partitions as it comes; the index, in partition order).
	later time.Duration
}

func newDLQBroker(t *testing.T) *dlqBroker {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, schemas.TopicDLQ))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := kafka.DefaultConfig()
	cfg.Brokers = c.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &dlqBroker{t: t, cfg: cfg, cl: cl, adm: kadm.NewClient(cl)}
}

// put writes n dead letters to partition p: order events whose errors
// vary in text and attempts, some quoting the customer's e-mail and name
// (the list masks them), every one failed at its own second.
func (b *dlqBroker) put(p int32, n int) {
	b.t.Helper()
	var recs []*kgo.Record
	for range n {
		i := b.n
		b.n++
		email := fmt.Sprintf("ana%d@example.com", i)
		e := orderEvent(b.t, fmt.Sprintf("dl-%d", i), 100+i%40, email)
		if i%5 == 0 {
			e.Type = pipeline.OrderCreated
		}
		causes := []error{
			errors.New("inbox send: permanent: HTTP 400 invalid conversation"),
			errors.New("inbox send: retryable: HTTP 503 Service Unavailable"),
			fmt.Errorf("inbox refused %s: unknown user Ana Lima", email),
		}
		d := pipeline.Delivery{Event: e, Attempt: 1 + i%4, Topic: schemas.TopicOrder, Partition: 0, Offset: int64(i)}
		r := kafka.DeliveryRecord(schemas.TopicDLQ, d, causes[i%3], testNow.Add(-2*time.Hour+time.Duration(i)*time.Second+b.later))
		r.Partition = p
		recs = append(recs, r)
	}
	if err := b.cl.ProduceSync(b.t.Context(), recs...).FirstErr(); err != nil {
		b.t.Fatal(err)
	}
}

// deleteBelow moves partition p's log start to offset (DeleteRecords, as
// retention does).
func (b *dlqBroker) deleteBelow(p int32, offset int64) {
	b.t.Helper()
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: schemas.TopicDLQ, Partition: p, At: offset})
	resp, err := b.adm.DeleteRecords(b.t.Context(), o)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		b.t.Fatal(err)
	}
}

// recreate deletes evershop.dlq and creates it again, empty.
func (b *dlqBroker) recreate() {
	b.t.Helper()
	ctx := b.t.Context()
	if _, err := b.adm.DeleteTopic(ctx, schemas.TopicDLQ); err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.adm.CreateTopic(ctx, 2, 1, nil, schemas.TopicDLQ); err != nil {
		b.t.Fatal(err)
	}
	b.cl.Close() // it knows the old topic's id: a new client learns the new one
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.cfg.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(cl.Close)
	b.cl, b.adm = cl, kadm.NewClient(cl)
}

func (b *dlqBroker) index(maxEntries int) *DeadLetterIndex {
	return KafkaDeadLetters{Config: b.cfg, Log: slog.New(slog.DiscardHandler)}.WithIndex(maxEntries).Index
}

var indexFilters = map[string]pipeline.ReplayFilter{
	"everything":     {},
	"type":           {EventTypes: []string{pipeline.OrderCreated}},
	"error text":     {ErrorContains: "SERVICE unavailable"},
	"personal error": {ErrorContains: "ana7@example.com"},
	"attempts":       {MinAttempts: 3},
	"time":           {Since: testNow.Add(-2*time.Hour + 40*time.Second), Until: testNow.Add(-2*time.Hour + 200*time.Second)},
	"event ids":      {EventIDs: []string{"dl-3", "dl-4", "dl-250", "dl-404"}},
	"all of them":    {EventTypes: []string{pipeline.OrderUpdated}, ErrorContains: "503", MinAttempts: 2, Since: testNow.Add(-3 * time.Hour)},
}

// agree checks that the index answers every filter as a full read of the
// DLQ does (replay.List and replay.Each, the console's path before the
// index), with the list's error texts masked as the page masks them.
func (b *dlqBroker) agree(x *DeadLetterIndex) {
	b.t.Helper()
	full := KafkaDeadLetters{Config: b.cfg, Log: slog.New(slog.DiscardHandler)}
	for name, f := range indexFilters {
		for _, limit := range []int{0, 25} {
			want, err := full.List(b.t.Context(), f, limit)
			if err != nil {
				b.t.Fatal(err)
			}
			got, err := x.List(b.t.Context(), f, limit)
			if err != nil {
				b.t.Fatalf("%s: %v", name, err)
			}
			if got.Total != want.Total || got.Matched != want.Matched || len(got.Letters) != len(want.Letters) {
				b.t.Fatalf("%s, limit %d: total %d matched %d listed %d, a full read says %d, %d, %d",
					name, limit, got.Total, got.Matched, len(got.Letters), want.Total, want.Matched, len(want.Letters))
			}
			for i, w := range want.Letters {
				g := got.Letters[i]
				shown := maskError(w.Error, personalValues(w.Event.Body, w.Event.Kind == pipeline.KindProduct))
				if g.Partition != w.Partition || g.Offset != w.Offset || g.Event.ID != w.Event.ID || g.Event.Type != w.Event.Type ||
					g.Event.EntityID != w.Event.EntityID || g.Event.Kind != w.Event.Kind || g.Attempts != w.Attempts ||
					!g.FailedAt.Equal(w.FailedAt) || g.OriginalTopic != w.OriginalTopic || g.Error != shown {
					b.t.Fatalf("%s, limit %d, row %d:\n got %+v\nwant %+v (error shown %q)", name, limit, i, g, w, shown)
				}
			}
		}
		var want, got []string
		collect := func(into *[]string) func(replay.DeadLetter) error {
			return func(d replay.DeadLetter) error {
				*into = append(*into, fmt.Sprintf("%d/%d %s", d.Partition, d.Offset, d.Event.ID))
				return nil
			}
		}
		if err := full.Each(b.t.Context(), f, collect(&want)); err != nil {
			b.t.Fatal(err)
		}
		if err := x.Each(b.t.Context(), f, collect(&got)); err != nil {
			b.t.Fatal(err)
		}
		sort.Strings(want)
		sort.Strings(got)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			b.t.Fatalf("%s: Each gave %v, a full read %v", name, got, want)
		}
	}
}

func TestDeadLetterIndexReadsOnlyWhatWasAppended(t *testing.T) {
	b := newDLQBroker(t)
	b.put(0, 150)
	b.put(1, 120)
	x := b.index(0)
	b.agree(x)
	if s := x.Stats(); s.Entries != 270 || s.Rebuilds != 1 || s.LastRead != 0 { // the last refresh read nothing new
		t.Fatalf("after the first loads: %+v", s)
	}
	b.put(1, 30)
	b.put(0, 10)
	if _, err := x.List(t.Context(), pipeline.ReplayFilter{}, 1); err != nil {
		t.Fatal(err)
	}
	if s := x.Stats(); s.LastRead != 40 || s.Entries != 310 || s.Rebuilds != 1 {
		t.Fatalf("after 40 appended: %+v", s)
	}
	b.agree(x)
	if s := x.Stats(); s.Bytes <= 0 || s.Bytes > int64(s.Entries)*approxEntryBytes {
		t.Errorf("%d bytes for %d entries: over approxEntryBytes (%d) each", s.Bytes, s.Entries, approxEntryBytes)
	}
}

func TestDeadLetterIndexDropsWhatRetentionRemoved(t *testing.T) {
	b := newDLQBroker(t)
	b.put(0, 100)
	b.put(1, 100)
	x := b.index(0)
	b.agree(x)
	b.deleteBelow(0, 60)
	b.agree(x)
	if s := x.Stats(); s.Entries != 140 || s.Rebuilds != 1 || s.LastRead != 0 {
		t.Fatalf("after deleting 60: %+v", s)
	}
	// A partition emptied, then written again: the index reads on from
	// the new start.
	b.deleteBelow(1, 100)
	b.agree(x)
	b.put(1, 20)
	b.deleteBelow(0, 90)
	b.put(0, 5)
	b.agree(x)
	if s := x.Stats(); s.Entries != 35 || s.Rebuilds != 1 {
		t.Fatalf("after emptying partition 1 and writing again: %+v", s)
	}
}

func TestDeadLetterIndexRebuildsARecreatedTopic(t *testing.T) {
	b := newDLQBroker(t)
	b.put(0, 80)
	b.put(1, 80)
	x := b.index(0)
	b.agree(x)
	// Fewer records than before: offsets went backwards.
	b.recreate()
	b.put(0, 10)
	b.agree(x)
	if s := x.Stats(); s.Entries != 10 || s.Rebuilds != 2 {
		t.Fatalf("after a recreate with fewer records: %+v", s)
	}
	// More records than before: only the topic id tells.
	b.recreate()
	b.put(0, 120)
	b.put(1, 90)
	b.agree(x)
	if s := x.Stats(); s.Entries != 210 || s.Rebuilds != 3 {
		t.Fatalf("after a recreate with more records: %+v", s)
	}
}

func TestDeadLetterIndexSharesOneRefreshBetweenLoads(t *testing.T) {
	b := newDLQBroker(t)
	b.put(0, 50)
	b.put(1, 50)
	gate := make(chan struct{})
	base := KafkaDeadLetters{Config: b.cfg, Log: slog.New(slog.DiscardHandler)}
	x := NewDeadLetterIndex(func() (*kgo.Client, error) { <-gate; return base.client() }, 0, base.Log)
	const loads = 8
	var wg sync.WaitGroup
	got := make([]replay.Listing, loads)
	errs := make([]error, loads)
	for i := range loads {
		wg.Go(func() { got[i], errs[i] = x.List(t.Context(), pipeline.ReplayFilter{MinAttempts: 2}, 10) })
	}
	for x.Stats().Joined < loads { // every load is waiting on the one refresh
		runtime.Gosched()
	}
	close(gate)
	wg.Wait()
	for i := range loads {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if got[i].Matched != got[0].Matched || got[i].Total != 100 || len(got[i].Letters) != 10 {
			t.Fatalf("load %d: %d of %d, %d listed; load 0: %d", i, got[i].Matched, got[i].Total, len(got[i].Letters), got[0].Matched)
		}
	}
	if s := x.Stats(); s.Refreshes != 1 || s.Rebuilds != 1 {
		t.Fatalf("%d loads ran %d refreshes", loads, s.Refreshes)
	}
	b.agree(x)
}

func TestDeadLetterIndexRefusesPastItsCap(t *testing.T) {
	b := newDLQBroker(t)
	b.put(0, 30)
	x := b.index(20)
	_, err := x.List(t.Context(), pipeline.ReplayFilter{}, 10)
	if !errors.Is(err, ErrIndexFull) {
		t.Fatalf("30 dead letters in an index of 20: %v", err)
	}
	h := newHarness(t, Config{Token: testToken}, Deps{DeadLetters: KafkaDeadLetters{Config: b.cfg, Log: slog.New(slog.DiscardHandler), Index: x}})
	h.login()
	code, body, _ := h.get("/dlq")
	if code != http.StatusBadGateway {
		t.Fatalf("page over the cap: %d", code)
	}
	mustContain(t, body, "cap of 20 dead letters")
}

// The page and the dry run over the index read as they did over a full
// read of the DLQ, masking included.
func TestDeadLetterPageSameWithTheIndex(t *testing.T) {
	b := newDLQBroker(t)
	b.put(0, 130)
	b.put(1, 110)
	// Events that died twice (the replay sends them once) and a letter
	// with nowhere to go back to (counted as failed).
	b.n, b.later = 5, 30*time.Minute
	b.put(1, 3)
	b.n = 300
	b.put(0, 1)
	b.n = 301
	b.put(0, 1)
	r, err := b.cl.ProduceSync(t.Context(), func() *kgo.Record {
		d := pipeline.Delivery{Event: orderEvent(t, "dl-lost", 7, "x@example.com"), Attempt: 4, Topic: schemas.TopicOrder}
		rec := kafka.DeliveryRecord(schemas.TopicDLQ, d, errors.New("inbox send: retryable: HTTP 503"), testNow.Add(-time.Hour))
		kafka.SetHeader(rec, schemas.HeaderOriginalTopic, schemas.TopicDLQ)
		return rec
	}()).First()
	if err != nil || r.Partition != 0 {
		t.Fatalf("the letter without an original topic: %v (partition %d)", err, r.Partition)
	}
	log := slog.New(slog.DiscardHandler)
	full := newHarness(t, Config{Token: testToken}, Deps{DeadLetters: KafkaDeadLetters{Config: b.cfg, Log: log}})
	indexed := newHarness(t, Config{Token: testToken}, Deps{DeadLetters: KafkaDeadLetters{Config: b.cfg, Log: log}.WithIndex(0)})
	full.events.delivered["dl-7"], indexed.events.delivered["dl-7"] = true, true
	full.login()
	indexed.login()
	csrf := regexp.MustCompile(`name="csrf" value="[^"]+"`)
	for _, q := range []string{"", "type=order.created", "error=unknown+user", "attempts=3&error=503", "since=2h&until=110m", "error=ana7%40example.com"} {
		_, want, _ := full.get("/dlq?" + q)
		code, got, _ := indexed.get("/dlq?" + q)
		if code != http.StatusOK || csrf.ReplaceAllString(got, "") != csrf.ReplaceAllString(want, "") {
			t.Fatalf("GET /dlq?%s: %d, the page differs from a full read's:\n%s\n---\n%s", q, code, got, want)
		}
		if q == "" {
			mustContain(t, got, "inbox refused a•••: unknown user A•••")
		}
	}
	for _, kv := range [][]string{
		{"scope", "filter", "error", "503"}, {"scope", "filter", "attempts", "2"}, {"scope", "filter", "type", "order.created"},
		{"scope", "filter"}, {"scope", "filter", "force", "yes"}, {"scope", "selection", "id", "dl-5", "id", "dl-7", "id", "dl-lost"},
		{"scope", "one", "id", "dl-300", "force", "yes"},
	} {
		dryRun := func(h *harness) string { return csrf.ReplaceAllString(dryRunOf(h, kv), "") }
		if want, got := dryRun(full), dryRun(indexed); got != want || !strings.Contains(got, "dry-run-count") {
			t.Fatalf("dry run %v differs from a full read's:\n%s\n---\n%s", kv, got, want)
		}
		if len(kv) == 2 { // everything: 246 records; dl-5 and dl-6 twice, dl-7 (delivered) twice, dl-lost
			mustContain(t, dryRunOf(indexed, kv), "<strong>241</strong> dead letters would be replayed", "246 dead letters match (246 records",
				"2 already delivered", "1 cannot be replayed")
		}
	}
}

func dryRunOf(h *harness, kv []string) string {
	_, body, _ := h.post("/dlq/replay", h.form(append([]string{"step", "dryrun"}, kv...)...))
	return body
}

// The index masks every error once; it asks maskError about the values
// that could occur only, and must get what maskError gives with all.
func TestCouldMatchMasksAsAllValues(t *testing.T) {
	if bodyCouldName("inbox send: retryable: HTTP 503 Service Unavailable", orderBody(10400, "ana@example.com", "processing")) {
		t.Error("an order's values said to occur in a plain inbox error: the index would parse every body")
	}
	body := []byte(`{"event":"customer.created","data":{"customer_email":"ana.lima@example.com","full_name":"Ana Lima","phone":"+351 912 345 678","city":"Kraków","street":"Rua Kelvin 1"}}`)
	known := personalValues(body, false)
	for _, text := range []string{
		"inbox send: permanent: HTTP 400 invalid conversation",
		"inbox refused ana.lima@example.com: unknown user ANA LIMA",
		"user ana lima at rua kelvin 1, KRAKÓW",
		"kelvin: \u212Aelvin scale, Analytics down",
		"lima; Lima, Ana; ana",
		"",
		"inbox send: permanent: HTTP 400 invalid conversation for order 4200",
		"shipped to   Rua 1, LISBOA (ANA.LIMA@EXAMPLE.COM)",
	} {
		if got, want := maskError(text, couldMatch(text, known)), maskError(text, known); got != want {
			t.Errorf("%q: %q, with every value %q", text, got, want)
		}
		for _, b := range [][]byte{body, orderBody(4200, "ana.lima@example.com", "shipped"), []byte(`{"data":{"email":"ana\u002elima@example.com"}}`), []byte(`7`)} {
			all := personalValues(b, false)
			if !bodyCouldName(text, b) && maskError(text, nil) != maskError(text, all) {
				t.Errorf("%q in %s: body values said not to occur, yet they mask %q", text, b, maskError(text, all))
			}
		}
	}
}

// TestDeadLetterIndexWarm: Warm (the console's start) reads the whole DLQ,
// so the first page load reads only what was appended since.
func TestDeadLetterIndexWarm(t *testing.T) {
	b := newDLQBroker(t)
	b.put(0, 50)
	x := b.index(0)
	if err := x.Warm(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := x.Stats(); s.Entries != 50 || s.Refreshes != 1 || s.LastRead != 50 {
		t.Fatalf("after Warm: %+v", s)
	}
	b.put(1, 5)
	if _, err := x.List(t.Context(), pipeline.ReplayFilter{}, 1); err != nil {
		t.Fatal(err)
	}
	if s := x.Stats(); s.LastRead != 5 || s.Entries != 55 || s.Rebuilds != 1 {
		t.Fatalf("first page after Warm: %+v", s)
	}
}
