package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestCatalogCSVRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		products []Product
	}{
		{"empty catalog is just the header", nil},
		{"awkward text", []Product{
			{ID: "42", SKU: "TSHIRT-RED-M", Name: "Red T-Shirt, size M", Price: "24.90", Currency: "USD", Qty: 17, InStock: true,
				Status: ProductEnabled, URL: "/tshirt-red-m", Description: "Soft \"organic\" cotton,\nmachine washable."},
			{ID: "43", SKU: "MUG-01", Name: "Mug", Price: "9.50", Currency: "USD", Status: ProductDisabled, URL: "/mug"},
			{ID: "44", Name: `"Quoted" name`, Description: "Café — коттон 🧵\nline two, with comma\n\"\"double\"\"", Qty: -3},
			{ID: "45", Name: " leading space", Description: "semi;colon\ttab"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			c := NewCatalogCSV(&buf)
			for _, p := range tc.products {
				if err := c.Write(p); err != nil {
					t.Fatalf("Write: %v", err)
				}
			}
			if err := c.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if c.Rows() != len(tc.products) {
				t.Errorf("Rows = %d, want %d", c.Rows(), len(tc.products))
			}
			sum := sha256.Sum256(buf.Bytes())
			if got, want := c.Sum(), hex.EncodeToString(sum[:]); got != want {
				t.Errorf("Sum = %s, want sha256 of the output %s", got, want)
			}
			out := buf.String()
			if !strings.HasSuffix(out, "\r\n") || strings.Count(strings.ReplaceAll(out, "\r\n", ""), "\n") != 0 {
				t.Errorf("output has a line ending other than CRLF: %q", out)
			}

			records, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatalf("output does not parse as CSV: %v", err)
			}
			if !slices.Equal(records[0], CatalogCSVHeader) {
				t.Errorf("header = %q", records[0])
			}
			if len(records)-1 != len(tc.products) {
				t.Fatalf("got %d rows, want %d", len(records)-1, len(tc.products))
			}
			for i, p := range tc.products {
				want := []string{p.ID, p.SKU, p.Name, p.Price, p.Currency, strconv.FormatInt(p.Qty, 10),
					strconv.FormatBool(p.InStock), p.Status, p.URL, p.Description}
				if !slices.Equal(records[i+1], want) {
					t.Errorf("row %d\n got %q\nwant %q", i, records[i+1], want)
				}
			}
		})
	}
}

func TestCatalogCSVSumIsStable(t *testing.T) {
	sum := func(ps ...Product) string {
		c := NewCatalogCSV(io.Discard)
		for _, p := range ps {
			if err := c.Write(p); err != nil {
				t.Fatal(err)
			}
		}
		return c.Sum()
	}
	a, b := Product{ID: "1", Price: "1.00"}, Product{ID: "2", Price: "2.00"}
	if first, again := sum(a, b), sum(a, b); first != again {
		t.Error("same catalog, different sums")
	}
	if sum(a, b) == sum(b, a) || sum(a) == sum(a, b) {
		t.Error("different catalogs, same sum")
	}
}

type failingCatalogWriter struct{}

func (failingCatalogWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestCatalogCSVWriterError(t *testing.T) {
	c := NewCatalogCSV(failingCatalogWriter{})
	if err := c.Write(Product{ID: "1"}); err != nil {
		t.Fatalf("Write before any flush: %v", err) // buffered, the writer is not touched yet
	}
	if err := c.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Close = %v, want the writer's error", err)
	}
	if err := c.Write(Product{ID: "2"}); err == nil {
		t.Error("Write after a failed flush succeeded")
	}
}

// catalogProduct is a typical catalog row: a few hundred bytes of text with
// characters that need quoting.
func catalogProduct(i int) Product {
	return Product{
		ID: strconv.Itoa(i), SKU: "SKU-" + strconv.Itoa(i), Name: "Product, \"special\" edition", Price: "24.90",
		Currency: "USD", Qty: int64(i % 50), InStock: i%50 != 0, Status: ProductEnabled, URL: "/p/" + strconv.Itoa(i),
		Description: strings.Repeat("Soft organic cotton, machine washable.\n", 5),
	}
}

// TestCatalogCSVConstantMemory checks that rows are streamed, not kept: a
// row costs a bounded number of allocations, and writing 100,000 products
// leaves the live heap where it was.
func TestCatalogCSVConstantMemory(t *testing.T) {
	c := NewCatalogCSV(io.Discard)
	p := catalogProduct(12345)
	if allocs := testing.AllocsPerRun(1000, func() { _ = c.Write(p) }); allocs > 2 {
		t.Errorf("Write allocates %.1f times per row, want at most 2", allocs)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c = NewCatalogCSV(io.Discard)
	for i := range 100_000 {
		if err := c.Write(catalogProduct(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(c)
	// 100,000 rows are about 25 MB of CSV; holding them would show.
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 1<<20 {
		t.Errorf("live heap grew by %d bytes over 100,000 rows", grown)
	}
	if c.Rows() != 100_000 {
		t.Errorf("Rows = %d", c.Rows())
	}
}

// BenchmarkCatalogCSV100k renders a 100,000-product catalog to io.Discard.
// B/op over 100k rows is the whole run's garbage, bytes/row the per-row share.
func BenchmarkCatalogCSV100k(b *testing.B) {
	const n = 100_000
	products := make([]Product, 1000)
	for i := range products {
		products[i] = catalogProduct(i)
	}
	b.ReportAllocs()
	var written int64
	for b.Loop() {
		cw := &countingCatalogWriter{}
		c := NewCatalogCSV(cw)
		for i := range n {
			if err := c.Write(products[i%len(products)]); err != nil {
				b.Fatal(err)
			}
		}
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
		_ = c.Sum()
		written = cw.n
	}
	b.SetBytes(written)
	b.ReportMetric(float64(written)/n, "csv-bytes/row")
}

type countingCatalogWriter struct{ n int64 }

func (w *countingCatalogWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

func BenchmarkCatalogCSVRow(b *testing.B) {
	c := NewCatalogCSV(io.Discard)
	p := catalogProduct(1)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Write(p); err != nil {
			b.Fatal(err)
		}
	}
}
