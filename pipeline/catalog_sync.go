package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"
)

// CatalogSource streams every product of the catalog, in a stable order.
//
// The order is part of the content: the same catalog must render the same
// bytes, or its hash changes and an unchanged catalog is uploaded again. A
// source skips (and logs) a product it cannot parse rather than failing, so
// one bad row never keeps the whole catalog from the support bot. An error
// returned by fn must stop the listing and be returned, wrapped or not.
type CatalogSource interface {
	Products(ctx context.Context, fn func(Product) error) error
}

// CatalogDocument is one rendered catalog.
type CatalogDocument struct {
	Name    string // "shopstream-catalog-<first 16 hex of Hash>.csv"
	Hash    string // hex SHA-256 of Content
	Content []byte // the CSV, header included; the target must not modify it
	Rows    int    // product rows, header excluded
}

// CatalogPublishResult says what the target did with a document.
type CatalogPublishResult struct {
	DocumentID string
	Skipped    bool // the target already had a document with this hash
}

// CatalogTarget makes a rendered catalog the knowledge base's current one.
// It returns only once the document is accepted (for Coze: processed), since
// the product events it covers are committed right after.
//
// The "unchanged, skip the upload" decision is the target's: it compares the
// document's name (which carries the hash) with what it actually holds, never
// with a memory of what some process published. A change of owner, a restart
// or an operator who deleted the document can then never leave a stale
// catalog behind a skip.
type CatalogTarget interface {
	PublishCatalog(ctx context.Context, doc CatalogDocument) (CatalogPublishResult, error)
}

// CatalogSyncResult reports one regeneration.
type CatalogSyncResult struct {
	Rows     int
	Hash     string
	Bytes    int
	Uploaded bool // the target stored a new document
	// Skipped: nothing new was stored because the target already held
	// this content (CatalogPublishResult.Skipped).
	Skipped  bool
	Duration time.Duration
}

// catalogDocPrefix names every catalog document; the rest is the hash, so a
// reader can tell two versions apart and the target can recognise one it
// already has.
const catalogDocPrefix = "shopstream-catalog-"

// minCatalogBuffer is the first regeneration's starting buffer: big enough
// that a small shop never regrows it, small enough not to matter.
const minCatalogBuffer = 64 << 10

// CatalogSync regenerates the whole catalog and hands it to the target.
//
// It renders a full document every time instead of patching the previous
// one: the knowledge base has no partial update, and a full rendering can
// never drift from the source. The catalog is held in memory once, as the
// CSV bytes (the Coze API wants the whole content in one request anyway);
// products are streamed straight from the source into the CSV, never
// collected into a slice.
//
// The target is called on every sync, even when the content is the one this
// process published last: whether to skip is decided against what the
// knowledge base holds (see CatalogTarget), which costs one listing call.
//
// Syncs are serialised: the catalog trigger runs one at a time anyway, and
// two concurrent renderings would only race to publish the same thing.
type CatalogSync struct {
	src CatalogSource
	dst CatalogTarget
	now func() time.Time

	mu       sync.Mutex
	lastSize int // size of the last rendering, to allocate the next one once
}

// NewCatalogSync builds a sync from src to dst. now times each sync; nil
// means time.Now.
func NewCatalogSync(src CatalogSource, dst CatalogTarget, now func() time.Time) *CatalogSync {
	if now == nil {
		now = time.Now
	}
	return &CatalogSync{src: src, dst: dst, now: now}
}

// Sync regenerates the whole catalog once: it streams the source's products
// into a CSV (NewCatalogCSV), hashes it, and publishes it; the target skips
// the upload when it already holds that content.
//
// Errors keep their classification through the wrapping (IsPermanent,
// RetryAfter). A failed publish forgets nothing: the next Sync tries again,
// even with the same content.
func (s *CatalogSync) Sync(ctx context.Context) (CatalogSyncResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := s.now()
	res := CatalogSyncResult{}
	done := func(err error) (CatalogSyncResult, error) {
		res.Duration = s.now().Sub(start)
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return done(fmt.Errorf("catalog sync: %w", err))
	}

	// Size the buffer from the previous rendering plus some headroom, so a
	// catalog of steady size is written without regrowing (each regrowth
	// briefly holds the old and the new array: up to 3x the catalog).
	buf := bytes.NewBuffer(make([]byte, 0, max(minCatalogBuffer, s.lastSize+s.lastSize/8)))
	doc := NewCatalogCSV(buf)
	if err := s.src.Products(ctx, doc.Write); err != nil {
		return done(fmt.Errorf("catalog sync: read products (after %d): %w", doc.Rows(), err))
	}
	if err := doc.Close(); err != nil {
		return done(fmt.Errorf("catalog sync: render csv: %w", err))
	}
	res.Rows, res.Hash, res.Bytes = doc.Rows(), doc.Sum(), buf.Len()
	s.lastSize = res.Bytes

	published, err := s.dst.PublishCatalog(ctx, CatalogDocument{
		Name:    CatalogDocumentName(res.Hash),
		Hash:    res.Hash,
		Content: buf.Bytes(),
		Rows:    res.Rows,
	})
	if err != nil {
		return done(fmt.Errorf("catalog sync: publish %d rows (%s): %w", res.Rows, shortHash(res.Hash), err))
	}
	res.Uploaded, res.Skipped = !published.Skipped, published.Skipped
	return done(nil)
}

// CatalogDocumentName is the document name of a catalog with hex hash h:
// "shopstream-catalog-<first 16 hex digits>.csv". Sixteen digits (64 bits)
// tell catalog versions apart while keeping the name readable.
func CatalogDocumentName(h string) string {
	return catalogDocPrefix + shortHash(h) + ".csv"
}

func shortHash(h string) string { return h[:min(16, len(h))] }
