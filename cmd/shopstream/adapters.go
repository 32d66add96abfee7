package main

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/shopstream/shopstream/connectors/coze"
	"github.com/shopstream/shopstream/connectors/evershop"
	"github.com/shopstream/shopstream/connectors/inbox"
	"github.com/shopstream/shopstream/pipeline"
)

// inboxNotifier delivers pipeline notifications through the support inbox.
type inboxNotifier struct{ c *inbox.Client }

func (n inboxNotifier) Notify(ctx context.Context, note pipeline.Notification) error {
	_, err := n.c.Send(ctx, inbox.Message{EventID: note.EventID, Email: note.Email, Content: note.Text})
	return err
}

// evershopCatalog reads the catalog from EverShop's admin GraphQL API. A
// product that cannot be parsed is skipped with a warning: one bad row must
// not keep the whole catalog from the support bot.
type evershopCatalog struct {
	c   *evershop.Client
	log *slog.Logger
}

func (s evershopCatalog) Products(ctx context.Context, fn func(pipeline.Product) error) error {
	return s.c.Products(ctx, func(item json.RawMessage) error {
		p, err := pipeline.ParseAdminProduct(item)
		if err != nil {
			s.log.Warn("skipping a product EverShop returned", "error", err)
			return nil
		}
		return fn(p)
	})
}

// cozeCatalog publishes the catalog to the Coze knowledge base.
type cozeCatalog struct{ c *coze.Client }

func (t cozeCatalog) PublishCatalog(ctx context.Context, doc pipeline.CatalogDocument) (pipeline.CatalogPublishResult, error) {
	d := t.c.NewCatalogDocument(doc.Content)
	res, err := t.c.ReplaceCatalog(ctx, d)
	if err != nil {
		return pipeline.CatalogPublishResult{}, err
	}
	return pipeline.CatalogPublishResult{DocumentID: res.DocumentID, Skipped: res.Skipped}, nil
}
