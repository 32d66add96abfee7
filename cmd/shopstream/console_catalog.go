package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/shopstream/shopstream/connectors/console"
	"github.com/shopstream/shopstream/connectors/coze"
	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/catalog"
	"github.com/shopstream/shopstream/internal/lifecycle"
	"github.com/shopstream/shopstream/pipeline"
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
// on shopstream.catalog.published. Each read opens a short-lived client, so
// the console consumes nothing between page views.
func cozeCatalog(cfg Config, kcfg kafka.Config, log *slog.Logger) (console.Catalog, error) {
	c, err := coze.New(coze.Config{BaseURL: cfg.CozeURL, Token: cfg.CozeToken, DatasetID: cfg.CozeDatasetID, FileType: cfg.CozeFileType},
		&http.Client{Timeout: 30 * time.Second}, log)
	if err != nil {
		return nil, configErr("coze.api_token", err)
	}
	return console.KnowledgeBaseCatalog{KnowledgeBase: c, Published: publishedReader{kcfg: kcfg, log: log},
		Where: "Coze knowledge base " + cfg.CozeDatasetID}, nil
}

// publishedReader reads the last record of shopstream.catalog.published.
type publishedReader struct {
	kcfg kafka.Config
	log  *slog.Logger
}

func (p publishedReader) Latest(ctx context.Context) (catalog.Published, []byte, bool, error) {
	cl, err := kafka.NewClient(p.kcfg, "console-catalog", p.log, nil)
	if err != nil {
		return catalog.Published{}, nil, false, fmt.Errorf("console catalog: %w", err)
	}
	defer cl.Close()
	return catalog.NewPublishedLog(cl, "", nil, p.log).Latest(ctx)
}
