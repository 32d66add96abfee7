package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

// sliceCatalog is a CatalogSource over a fixed list; err, when set, is
// returned after the products were streamed.
type sliceCatalog struct {
	products []Product
	err      error
	calls    int
}

func (s *sliceCatalog) Products(_ context.Context, fn func(Product) error) error {
	s.calls++
	for _, p := range s.products {
		if err := fn(p); err != nil {
			return err
		}
	}
	return s.err
}

// recordingTarget is a CatalogTarget that keeps every document it was given.
type recordingTarget struct {
	docs    []CatalogDocument
	err     error // returned by every call while set
	skipped bool  // the "target already had it" answer
}

func (r *recordingTarget) PublishCatalog(_ context.Context, doc CatalogDocument) (CatalogPublishResult, error) {
	r.docs = append(r.docs, CatalogDocument{Name: doc.Name, Hash: doc.Hash, Rows: doc.Rows, Content: bytes.Clone(doc.Content)})
	if r.err != nil {
		return CatalogPublishResult{}, r.err
	}
	return CatalogPublishResult{DocumentID: "doc-" + doc.Hash[:8], Skipped: r.skipped}, nil
}

// stepClock advances by one second every time it is read.
func stepClock() func() time.Time {
	t := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Second); return t }
}

func TestCatalogSync(t *testing.T) {
	two := []Product{catalogProduct(1), catalogProduct(2)}
	changed := []Product{catalogProduct(1), catalogProduct(3)}
	permanent := Permanentf("coze: 400 bad dataset")
	throttled := Retryable(errors.New("coze: 429"), 7*time.Second)

	// step is one Sync: what to set up before it, and what to expect.
	type step struct {
		products  []Product
		srcErr    error
		dstErr    error
		dstSkip   bool
		cancelled bool  // Sync runs with an already cancelled context
		wantErr   error // errors.Is target; nil = success
		wantPerm  bool
		wantAfter time.Duration
		want      CatalogSyncResult // Hash, Bytes and Duration not compared
		wantCalls int               // target calls so far
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first sync uploads", []step{
			{products: two, want: CatalogSyncResult{Rows: 2, Uploaded: true}, wantCalls: 1},
		}},
		{"unchanged content still asks the target, which decides", []step{
			{products: two, want: CatalogSyncResult{Rows: 2, Uploaded: true}, wantCalls: 1},
			{products: two, dstSkip: true, want: CatalogSyncResult{Rows: 2, Skipped: true}, wantCalls: 2},
			// The knowledge base lost it (deleted by hand, another owner):
			// no memory of this process keeps it from being uploaded again.
			{products: two, want: CatalogSyncResult{Rows: 2, Uploaded: true}, wantCalls: 3},
		}},
		{"changed catalog is uploaded again", []step{
			{products: two, want: CatalogSyncResult{Rows: 2, Uploaded: true}, wantCalls: 1},
			{products: changed, want: CatalogSyncResult{Rows: 2, Uploaded: true}, wantCalls: 2},
			{products: two, want: CatalogSyncResult{Rows: 2, Uploaded: true}, wantCalls: 3},
		}},
		{"empty catalog still publishes the header", []step{
			{products: nil, want: CatalogSyncResult{Rows: 0, Uploaded: true}, wantCalls: 1},
		}},
		{"target already had it", []step{
			{products: two, dstSkip: true, want: CatalogSyncResult{Rows: 2, Skipped: true}, wantCalls: 1},
		}},
		{"permanent target error stays permanent and is retried next time", []step{
			{products: two, dstErr: permanent, wantErr: permanent, wantPerm: true, want: CatalogSyncResult{Rows: 2}, wantCalls: 1},
			{products: two, want: CatalogSyncResult{Rows: 2, Uploaded: true}, wantCalls: 2},
		}},
		{"retry-after survives the wrap", []step{
			{products: two, dstErr: throttled, wantErr: throttled, wantAfter: 7 * time.Second, want: CatalogSyncResult{Rows: 2}, wantCalls: 1},
		}},
		{"source error stops before the target", []step{
			{products: two, srcErr: permanent, wantErr: permanent, wantPerm: true, want: CatalogSyncResult{}, wantCalls: 0},
			{products: two, want: CatalogSyncResult{Rows: 2, Uploaded: true}, wantCalls: 1},
		}},
		{"cancelled context reads nothing", []step{
			{products: two, cancelled: true, wantErr: context.Canceled, want: CatalogSyncResult{}, wantCalls: 0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := &sliceCatalog{}, &recordingTarget{}
			s := NewCatalogSync(src, dst, stepClock())
			for i, st := range tc.steps {
				src.products, src.err = st.products, st.srcErr
				dst.err, dst.skipped = st.dstErr, st.dstSkip
				ctx := t.Context()
				if st.cancelled {
					c, cancel := context.WithCancel(ctx)
					cancel()
					ctx = c
				}
				got, err := s.Sync(ctx)
				switch {
				case st.wantErr == nil && err != nil:
					t.Fatalf("step %d: Sync: %v", i, err)
				case st.wantErr != nil && !errors.Is(err, st.wantErr):
					t.Fatalf("step %d: Sync error = %v, want %v", i, err, st.wantErr)
				}
				if IsPermanent(err) != st.wantPerm {
					t.Errorf("step %d: IsPermanent = %v, want %v", i, IsPermanent(err), st.wantPerm)
				}
				if after, _ := RetryAfter(err); after != st.wantAfter {
					t.Errorf("step %d: RetryAfter = %s, want %s", i, after, st.wantAfter)
				}
				if got.Duration <= 0 {
					t.Errorf("step %d: Duration = %s, want the clock's elapsed time", i, got.Duration)
				}
				gotCmp := got
				gotCmp.Hash, gotCmp.Bytes, gotCmp.Duration = "", 0, 0
				if gotCmp != st.want {
					t.Errorf("step %d: result = %+v, want %+v", i, gotCmp, st.want)
				}
				if len(dst.docs) != st.wantCalls {
					t.Errorf("step %d: target called %d times, want %d", i, len(dst.docs), st.wantCalls)
				}
			}
			for _, doc := range dst.docs {
				checkCatalogDocument(t, doc)
			}
		})
	}
}

// checkCatalogDocument verifies a published document is self-consistent: the
// hash is the content's, the name carries it, and the CSV parses with the
// right number of rows.
func checkCatalogDocument(t *testing.T, doc CatalogDocument) {
	t.Helper()
	sum := sha256.Sum256(doc.Content)
	if want := hex.EncodeToString(sum[:]); doc.Hash != want {
		t.Errorf("doc hash %s, content hashes to %s", doc.Hash, want)
	}
	if want := "shopstream-catalog-" + doc.Hash[:16] + ".csv"; doc.Name != want {
		t.Errorf("doc name %q, want %q", doc.Name, want)
	}
	records, err := csv.NewReader(bytes.NewReader(doc.Content)).ReadAll()
	if err != nil {
		t.Fatalf("doc content is not CSV: %v", err)
	}
	if len(records) != doc.Rows+1 || strings.Join(records[0], ",") != strings.Join(CatalogCSVHeader, ",") {
		t.Errorf("doc has %d records (header %q), want header + %d rows", len(records), records[0], doc.Rows)
	}
}

func TestCatalogSyncResultMatchesDocument(t *testing.T) {
	src, dst := &sliceCatalog{products: []Product{catalogProduct(7)}}, &recordingTarget{}
	res, err := NewCatalogSync(src, dst, nil).Sync(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	doc := dst.docs[0]
	if res.Hash != doc.Hash || res.Bytes != len(doc.Content) || res.Rows != doc.Rows {
		t.Errorf("result %+v does not describe the document (hash %s, %d bytes, %d rows)", res, doc.Hash, len(doc.Content), doc.Rows)
	}
}

// generatedCatalog streams n products without holding them, the way a
// paged API or a state topic reader hands them over; version changes one
// product so a resync has something new to publish.
type generatedCatalog struct {
	n, version int
	peak       *uint64
}

func (g *generatedCatalog) Products(_ context.Context, fn func(Product) error) error {
	for i := range g.n {
		p := catalogProduct(i)
		if i == 0 {
			p.Qty = int64(g.version)
		}
		if err := fn(p); err != nil {
			return err
		}
		if i%8192 == 0 {
			samplePeakHeap(g.peak)
		}
	}
	return nil
}

// discardTarget accepts every document; it samples the heap while the whole
// catalog is alive, which is where the peak is.
type discardTarget struct{ peak *uint64 }

func (d discardTarget) PublishCatalog(_ context.Context, doc CatalogDocument) (CatalogPublishResult, error) {
	samplePeakHeap(d.peak)
	return CatalogPublishResult{DocumentID: doc.Name}, nil
}

func samplePeakHeap(peak *uint64) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	*peak = max(*peak, m.HeapInuse)
}

// BenchmarkCatalogSync100k regenerates a 100,000-product catalog. "first" is
// a fresh CatalogSync (no size hint: the buffer grows), "resync" a long-lived
// one after a one-product change. peak-heap-MB is the highest HeapInuse seen
// during the runs, garbage not yet collected included; the goal is < 5 s and
// < 100 MB per regeneration.
func BenchmarkCatalogSync100k(b *testing.B) {
	const n = 100_000
	for _, mode := range []string{"first", "resync"} {
		b.Run(mode, func(b *testing.B) {
			var peak uint64
			src := &generatedCatalog{n: n, peak: &peak}
			s := NewCatalogSync(src, discardTarget{&peak}, nil)
			if mode == "resync" {
				if _, err := s.Sync(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
			runtime.GC()
			peak = 0
			var bytesOut int
			b.ReportAllocs()
			for b.Loop() {
				if mode == "first" {
					s = NewCatalogSync(src, discardTarget{&peak}, nil)
				}
				src.version++
				res, err := s.Sync(b.Context())
				if err != nil || !res.Uploaded || res.Rows != n {
					b.Fatalf("Sync = %+v, %v", res, err)
				}
				bytesOut = res.Bytes
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(bytesOut)/(1<<20), "csv-MB")
		})
	}
}
