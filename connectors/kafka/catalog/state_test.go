package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/kafkatest"
	"github.com/shopstream/shopstream/pipeline"
)

// csBroker returns the config of the real broker at
// SHOPSTREAM_TEST_KAFKA, skipping when it is unset and failing when it is set
// but does not answer.
func csBroker(t testing.TB) kafka.Config {
	t.Helper()
	addr := os.Getenv("SHOPSTREAM_TEST_KAFKA")
	if addr == "" {
		t.Skip("SHOPSTREAM_TEST_KAFKA is not set; start the local broker (deploy/local/infra.sh up) to run this test")
	}
	cfg := kafka.DefaultConfig()
	cfg.Brokers = strings.Split(addr, ",")
	cfg.ClientIDPrefix = "shopstream-test"
	cl, err := kafka.NewClient(cfg, "ping", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Fatalf("SHOPSTREAM_TEST_KAFKA=%s does not answer: %v", addr, err)
	}
	return cfg
}

// csNewState creates a uniquely named compacted topic with three
// partitions (deleted when the test ends) and a State over it.
func csNewState(t testing.TB) (*State, *kafka.Producer, string) {
	t.Helper()
	cfg := csBroker(t)
	log := slog.New(slog.DiscardHandler)
	prod, err := kafka.NewProducer(cfg, "test-catalog-state", log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close(context.Background()) })
	adm := kadm.NewClient(prod.Client())
	topic := fmt.Sprintf("shopstream-test.catalog-state.%s.%d", strings.ReplaceAll(t.Name(), "/", "."), time.Now().UnixNano())
	resp, err := adm.CreateTopic(t.Context(), 3, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	kafkatest.WaitForLeaders(t, 30*time.Second, topic)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := adm.DeleteTopic(ctx, topic); err != nil {
			t.Logf("delete %s: %v", topic, err)
		}
	})
	return NewState(prod.Client(), cfg, topic, log), prod, topic
}

func csEvent(typ, data string) pipeline.Event {
	return pipeline.Event{ID: fmt.Sprintf("ev-%d", time.Now().UnixNano()), Type: typ, Kind: pipeline.KindProduct,
		ReceivedAt: time.Now(), Data: json.RawMessage(data)}
}

func csReadAll(t *testing.T, s *State) []pipeline.Product {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out []pipeline.Product
	if err := s.Products(ctx, func(p pipeline.Product) error { out = append(out, p); return nil }); err != nil {
		t.Fatalf("Products: %v", err)
	}
	return out
}

func csParse(t *testing.T, data string) pipeline.Product {
	t.Helper()
	p, err := pipeline.ParseProductEvent(json.RawMessage(data))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStateCreateUpdateDelete(t *testing.T) {
	s, _, _ := csNewState(t)
	if got := csReadAll(t, s); len(got) != 0 {
		t.Fatalf("empty topic gave %d products", len(got))
	}
	const (
		mug     = `{"id":"10","sku":"MUG","name":"Mug","price":"9.5","qty":3,"description":"Blue, \"big\"\nmug"}`
		tee     = `{"id":2,"sku":"TEE","name":"T-Shirt","price":24.9,"qty":0}`
		teeNew  = `{"id":2,"sku":"TEE","name":"T-Shirt, organic","price":"19.90","qty":12}`
		gone    = `{"id":9,"name":"Soon gone","price":1}`
		named   = `{"id":"abc","name":"Gift card","price":"50"}`
		evRow   = `{"product_id":11,"uuid":"4f1c","sku":"ROW","price":"24.9000","status":false}`
		deleted = `{"id":9}`
	)
	for _, ev := range []pipeline.Event{
		csEvent(pipeline.ProductCreated, mug),
		csEvent(pipeline.ProductCreated, tee),
		csEvent(pipeline.ProductCreated, gone),
		csEvent(pipeline.ProductCreated, named),
		csEvent(pipeline.ProductUpdated, teeNew),
		csEvent(pipeline.ProductUpdated, evRow),
		csEvent(pipeline.ProductDeleted, deleted),
	} {
		if err := s.Apply(t.Context(), ev); err != nil {
			t.Fatalf("Apply %s %s: %v", ev.Type, ev.Data, err)
		}
	}
	want := []pipeline.Product{csParse(t, teeNew), csParse(t, mug), csParse(t, evRow), csParse(t, named)}
	got := csReadAll(t, s)
	if !slices.Equal(got, want) {
		t.Errorf("Products =\n%+v\nwant\n%+v", got, want)
	}
	// The EverShop row knows no name: it stays empty rather than invented.
	if row := got[2]; row.ID != "11" || row.Name != "" || row.Status != pipeline.ProductDisabled || row.Price != "24.90" {
		t.Errorf("EverShop row product = %+v", row)
	}
	// Reading again gives the same thing (the CSV hash depends on it).
	if again := csReadAll(t, s); !slices.Equal(again, got) {
		t.Errorf("second read differs:\n%+v", again)
	}
}

func TestStateManyUpdates(t *testing.T) {
	s, _, _ := csNewState(t)
	const products, updates = 50, 1000
	// One writer per product keeps each product's updates in order, as the
	// processor's per-partition workers do; products are written in parallel.
	var wg sync.WaitGroup
	errs := make(chan error, products)
	for k := range products {
		wg.Go(func() {
			for i := k; i < updates; i += products {
				data := fmt.Sprintf(`{"id":%d,"sku":"SKU-%d","name":"Product %d v%d","price":"%d.50","qty":%d}`, k, k, k, i, i, i)
				if err := s.Apply(t.Context(), csEvent(pipeline.ProductUpdated, data)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := csReadAll(t, s)
	if len(got) != products {
		t.Fatalf("Products gave %d products, want %d", len(got), products)
	}
	for k, p := range got {
		last := updates - products + k
		if p.ID != fmt.Sprint(k) || p.Qty != int64(last) || p.Name != fmt.Sprintf("Product %d v%d", k, last) {
			t.Errorf("product %d = %+v, want its update %d", k, p, last)
		}
	}
}

func TestStateSkipsBadRecords(t *testing.T) {
	s, prod, topic := csNewState(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Apply(t.Context(), csEvent(pipeline.ProductCreated, `{"id":1,"name":"Kept"}`)))
	must(s.Apply(t.Context(), csEvent(pipeline.ProductCreated, `{"id":5,"name":"Replaced by garbage"}`)))
	// Someone else wrote to the topic: a value that is not a product. (A
	// record without a key cannot get in: the broker refuses those on a
	// compacted topic.)
	must(prod.Produce(t.Context(), &kgo.Record{Topic: topic, Key: []byte("5"), Value: []byte("not json")}))
	must(prod.Produce(t.Context(), &kgo.Record{Topic: topic, Key: []byte("6"), Value: []byte(`{"id":"6","qty":"many"}`)}))
	got := csReadAll(t, s)
	if len(got) != 1 || got[0].ID != "1" || got[0].Name != "Kept" {
		t.Errorf("Products = %+v, want only product 1", got)
	}

	stop := errors.New("enough")
	if err := s.Products(t.Context(), func(pipeline.Product) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Products with a failing fn = %v, want its error", err)
	}
}

func TestStateMissingTopic(t *testing.T) {
	cfg := csBroker(t)
	s := NewState(nil, cfg, fmt.Sprintf("shopstream-test.no-such-topic.%d", time.Now().UnixNano()), nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.Products(ctx, func(pipeline.Product) error { return nil }); err == nil {
		t.Error("Products on a missing topic succeeded")
	}
}

// TestStateApplyRefuses needs no broker: bad events are refused
// before anything is written.
func TestStateApplyRefuses(t *testing.T) {
	s := NewState(nil, kafka.Config{}, "unused", nil)
	tests := []struct {
		name string
		ev   pipeline.Event
	}{
		{"not JSON", csEvent(pipeline.ProductUpdated, `{"id":`)},
		{"no id", csEvent(pipeline.ProductCreated, `{"name":"Nameless"}`)},
		{"bad price", csEvent(pipeline.ProductUpdated, `{"id":1,"price":"cheap"}`)},
		{"delete without id", csEvent(pipeline.ProductDeleted, `{}`)},
		{"not a product event", csEvent(pipeline.OrderUpdated, `{"id":1}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Apply(t.Context(), tc.ev); !pipeline.IsPermanent(err) {
				t.Errorf("Apply = %v, want a permanent error", err)
			}
		})
	}
}

func TestCompareProductIDs(t *testing.T) {
	ids := []string{"abc", "10", "B-1", "2", "007", "7", "", "18446744073709551616", "9", "a"}
	slices.SortFunc(ids, CompareProductIDs)
	want := []string{"2", "007", "7", "9", "10", "18446744073709551616", "", "B-1", "a", "abc"}
	if !slices.Equal(ids, want) {
		t.Errorf("sorted = %q\nwant     %q", ids, want)
	}
}

// BenchmarkStateSync100k regenerates a 100,000-product catalog from
// the state topic on the real broker, through pipeline.CatalogSync with a
// discarding target. This source must hold every product to sort them, so
// its peak is the state plus the CSV; peak-heap-MB is the highest HeapInuse
// sampled when the target gets the document, uncollected garbage included.
func BenchmarkStateSync100k(b *testing.B) {
	const n = 100_000
	s, prod, _ := csNewState(b)
	desc := strings.Repeat("Soft organic cotton, machine washable.\n", 5)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		id := strconv.Itoa(i)
		value, _ := json.Marshal(toState(pipeline.Product{ID: id, SKU: "SKU-" + id, Name: "Product, \"special\" edition",
			Price: "24.90", Currency: "USD", Qty: int64(i % 50), InStock: i%50 != 0, Status: pipeline.ProductEnabled,
			URL: "/p/" + id, Description: desc}))
		recs[i] = &kgo.Record{Topic: s.topic, Key: []byte(id), Value: value}
	}
	if err := prod.Client().ProduceSync(b.Context(), recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	recs = nil

	var peak uint64
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapInuse)
	}
	for _, mode := range []string{"first", "resync"} {
		b.Run(mode, func(b *testing.B) {
			// "first": a fresh CatalogSync, as after a restart (no size
			// hint). "resync": a long-lived one after a one-product change.
			cs := pipeline.NewCatalogSync(s, sampledTarget(sample), nil)
			if _, err := cs.Sync(b.Context()); err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			peak = 0
			var bytesOut int
			b.ReportAllocs()
			version := 0
			for b.Loop() {
				if mode == "first" {
					cs = pipeline.NewCatalogSync(s, sampledTarget(sample), nil)
				}
				version++
				data := fmt.Sprintf(`{"id":0,"name":"Product, \"special\" edition","price":"24.90","qty":%d}`, version)
				if err := s.Apply(b.Context(), csEvent(pipeline.ProductUpdated, data)); err != nil {
					b.Fatal(err)
				}
				res, err := cs.Sync(b.Context())
				if err != nil || res.Rows != n || !res.Uploaded {
					b.Fatalf("Sync = %+v, %v", res, err)
				}
				bytesOut = res.Bytes
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(bytesOut)/(1<<20), "csv-MB")
		})
	}
}

// sampledTarget samples the heap while the whole CSV is alive.
type sampledTarget func()

func (f sampledTarget) PublishCatalog(_ context.Context, doc pipeline.CatalogDocument) (pipeline.CatalogPublishResult, error) {
	f()
	return pipeline.CatalogPublishResult{DocumentID: doc.Name}, nil
}

func TestPackProductRoundTrip(t *testing.T) {
	for _, p := range []pipeline.Product{
		{ID: "1"},
		{ID: "x", SKU: "S", Name: "Café \x00 коттон 🧵", Price: "0.125", Currency: "EUR", Qty: -3, InStock: true,
			Status: pipeline.ProductDisabled, URL: "/p?x=1", Description: strings.Repeat("long ", 20000)},
		{ID: "big", Qty: 1<<62 + 5},
	} {
		if got := unpackProduct(p.ID, string(packProduct(nil, p))); got != p {
			t.Errorf("round trip of %q changed it: %+v", p.ID, got)
		}
	}
}
