package evershop

import (
	"context"
	"encoding/json"

	"github.com/shopstream/shopstream/pipeline"
)

// Client is the processor's catalog source when EverShop's admin API is
// configured.
var _ pipeline.CatalogSource = (*Client)(nil)

// Products streams every product of the catalog to fn as a
// pipeline.Product (RawProducts, parsed). A product that cannot be parsed is
// skipped with a warning: one bad row of EverShop's must not keep the whole
// catalog from the support bot.
func (c *Client) Products(ctx context.Context, fn func(pipeline.Product) error) error {
	return c.RawProducts(ctx, func(item json.RawMessage) error {
		p, err := pipeline.ParseAdminProduct(item)
		if err != nil {
			c.log.Warn("skipping a product EverShop returned", "error", err)
			return nil
		}
		return fn(p)
	})
}
