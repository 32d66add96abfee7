package coze

import (
	"context"

	"github.com/shopstream/shopstream/pipeline"
)

// Client is the processor's catalog target when a Coze token is configured.
var _ pipeline.CatalogTarget = (*Client)(nil)

// PublishCatalog makes the rendered catalog the knowledge base's one
// catalog document (ReplaceCatalog, named and typed by this client's
// configuration).
func (c *Client) PublishCatalog(ctx context.Context, doc pipeline.CatalogDocument) (pipeline.CatalogPublishResult, error) {
	res, err := c.ReplaceCatalog(ctx, c.NewCatalogDocument(doc.Content))
	if err != nil {
		return pipeline.CatalogPublishResult{}, err
	}
	return pipeline.CatalogPublishResult{DocumentID: res.DocumentID, Skipped: res.Skipped}, nil
}
