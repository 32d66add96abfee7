package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/console"
	"github.com/shopstream/shopstream/connectors/coze"
	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/catalog"
	"github.com/shopstream/shopstream/internal/lifecycle"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// recordPublished makes the processor's Coze target record every publish,
// CSV included, on shopstream.catalog.published, where the console reads
// it (the knowledge base offers no download of a document).
func recordPublished(target pipeline.CatalogTarget, kcfg kafka.Config, log *slog.Logger, opened *lifecycle.Stack) (pipeline.CatalogTarget, error) {
	cl, err := kafka.NewClient(kcfg, "catalog-published", log, nil, catalog.PublishedClientOpts()...)
	if err != nil {
		return nil, err
	}
	opened.Push(func(context.Context) error { cl.Close(); return nil })
	return catalog.RecordingTarget{Target: target, Log: catalog.NewPublishedLog(cl, "", time.Now, log)}, nil
}

// cozeCatalog is the console's catalog with a Coze target: what the
// knowledge base holds (document/list) beside what the processor recorded
// on shopstream.catalog.published. admin (the console's admin client) asks
// for the record's end offset on each view; the record itself is read, by
// a short-lived client, only when that offset moved, so the console
// consumes nothing between page views and a view of an unchanged catalog
// fetches no CSV.
func cozeCatalog(cfg Config, kcfg kafka.Config, admin *kgo.Client, log *slog.Logger) (console.Catalog, error) {
	c, err := coze.New(coze.Config{BaseURL: cfg.CozeURL, Token: cfg.CozeToken, DatasetID: cfg.CozeDatasetID, FileType: cfg.CozeFileType},
		&http.Client{Timeout: 30 * time.Second}, log)
	if err != nil {
		return nil, configErr("coze.api_token", err)
	}
	return console.KnowledgeBaseCatalog{KnowledgeBase: c, Published: newPublishedReader(kcfg, admin, log),
		Where: "Coze knowledge base " + cfg.CozeDatasetID, Request: requestRegeneration(admin)}, nil
}

// requestRegeneration writes a catalog.regenerate mark to the sync topic
// with the console's client (acks=all, awaited): the catalog owner runs the
// regeneration, so the console never uploads beside it.
func requestRegeneration(cl *kgo.Client) func(ctx context.Context, user string) error {
	return func(ctx context.Context, user string) error {
		return cl.ProduceSync(ctx, catalog.RegenerationRequest(user, time.Now())).FirstErr()
	}
}

// publishedReadTimeout bounds one read of the record: a broker that does
// not answer makes the catalog page say so instead of hanging it.
const publishedReadTimeout = 20 * time.Second

// publishedReader reads the last record of shopstream.catalog.published,
// kept while the topic's end offset stays where it was.
type publishedReader struct {
	admin *kadm.Client
	open  func() (*kgo.Client, error) // a reading client, closed after each read
	log   *slog.Logger

	mu     sync.Mutex
	end    int64 // -1: nothing kept
	p      catalog.Published
	csv    []byte
	exists bool
}

func newPublishedReader(kcfg kafka.Config, admin *kgo.Client, log *slog.Logger) *publishedReader {
	return &publishedReader{admin: kadm.NewClient(admin), log: log, end: -1,
		open: func() (*kgo.Client, error) { return kafka.NewClient(kcfg, "console-catalog", log, nil) }}
}

func (p *publishedReader) Latest(ctx context.Context) (catalog.Published, []byte, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, publishedReadTimeout)
	defer cancel()
	ends, err := p.admin.ListEndOffsets(ctx, schemas.TopicCatalogPublished)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return catalog.Published{}, nil, false, fmt.Errorf("console catalog: end offset of %s: %w", schemas.TopicCatalogPublished, err)
	}
	end, _ := ends.Lookup(schemas.TopicCatalogPublished, 0)
	p.mu.Lock()
	defer p.mu.Unlock() // one read at a time: concurrent views share it
	if p.end >= 0 && p.end == end.Offset {
		return p.p, p.csv, p.exists, nil
	}
	cl, err := p.open()
	if err != nil {
		return catalog.Published{}, nil, false, fmt.Errorf("console catalog: %w", err)
	}
	defer cl.Close()
	pub, csv, ok, err := catalog.NewPublishedLog(cl, "", nil, p.log).Latest(ctx)
	if err != nil {
		return pub, csv, ok, err
	}
	// Kept under the end offset seen first: a record written meanwhile
	// moves it again, and the next view reads that one.
	p.end, p.p, p.csv, p.exists = end.Offset, pub, csv, ok
	return pub, csv, ok, nil
}
