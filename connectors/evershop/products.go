package evershop

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/shopstream/shopstream/connectors/internal/httpx"
	"github.com/shopstream/shopstream/pipeline"
)

// maxPages stops a runaway pager (a server whose total keeps growing).
const maxPages = 100000

type filter struct {
	Key       string `json:"key"`
	Operation string `json:"operation"`
	Value     string `json:"value"`
}

type productsPage struct {
	Total       int64
	CurrentPage int
	Items       []json.RawMessage
}

// RawProducts streams every product of the catalog to fn, page by page, in
// EverShop's order (product_id DESC). Items are the raw GraphQL objects.
//
// Offset paging over a live catalog can show a product twice when one is
// created mid-listing; such repeats (same productId or uuid) are dropped. A
// product deleted mid-listing can shift another past a page boundary; the
// product event that caused it triggers another sync, which sees it.
// An error from fn stops the listing and is returned wrapped.
func (c *Client) RawProducts(ctx context.Context, fn func(item json.RawMessage) error) error {
	start := c.now()
	limit := c.cfg.PageSize
	seen := make(map[string]struct{})
	var total int64 = -1
	count, dups := 0, 0
	for page := 1; page <= maxPages; page++ {
		p, err := c.fetchPage(ctx, page, limit)
		if err != nil {
			return err
		}
		if total >= 0 && p.Total != total {
			c.log.Warn("evershop catalog changed while listing", "page", page, "total_before", total, "total_now", p.Total)
		}
		total = p.Total
		for _, item := range p.Items {
			if key := identity(item); key != "" {
				if _, dup := seen[key]; dup {
					dups++
					continue
				}
				seen[key] = struct{}{}
			}
			if err := fn(item); err != nil {
				return fmt.Errorf("evershop products page %d: %w", page, err)
			}
			count++
		}
		if len(p.Items) < limit || int64(page)*int64(limit) >= p.Total {
			c.log.Info("evershop catalog listed", "products", count, "pages", page, "duplicates_dropped", dups,
				"duration", c.now().Sub(start))
			return nil
		}
	}
	return pipeline.Permanentf("evershop products: more than %d pages", maxPages)
}

// fetchPage fetches one page, renewing the token once on a 401.
func (c *Client) fetchPage(ctx context.Context, page, limit int) (productsPage, error) {
	op := fmt.Sprintf("evershop products page %d", page)
	in := map[string]any{
		"query": c.cfg.Query,
		"variables": map[string]any{"filters": []filter{
			{Key: "page", Operation: "eq", Value: strconv.Itoa(page)},
			{Key: "limit", Operation: "eq", Value: strconv.Itoa(limit)},
		}},
	}
	tok, err := c.token(ctx, "")
	if err != nil {
		return productsPage{}, fmt.Errorf("%s: %w", op, err)
	}
	raw, err := c.post(ctx, op, "/api/admin/graphql", tok, in)
	if hasStatus(err, http.StatusUnauthorized) {
		c.log.Info("evershop token refused, renewing", "page", page)
		if tok, err = c.token(ctx, tok); err != nil {
			return productsPage{}, fmt.Errorf("%s: %w", op, err)
		}
		raw, err = c.post(ctx, op, "/api/admin/graphql", tok, in)
	}
	if err != nil {
		return productsPage{}, err
	}
	return decodePage(op, raw)
}

func decodePage(op string, raw []byte) (productsPage, error) {
	var out struct {
		Data struct {
			Products *struct {
				Total       json.Number       `json:"total"`
				CurrentPage json.Number       `json:"currentPage"`
				Items       []json.RawMessage `json:"items"`
			} `json:"products"`
		} `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return productsPage{}, pipeline.Permanent(fmt.Errorf("%s: decode response %q: %w", op, httpx.Snippet(raw), err))
	}
	if len(out.Errors) > 0 {
		msgs := make([]string, len(out.Errors))
		for i, e := range out.Errors {
			msgs[i] = e.Message
		}
		// A GraphQL error is the query or schema disagreeing: resending
		// the same query cannot help.
		return productsPage{}, pipeline.Permanentf("%s: graphql: %s", op, strings.Join(msgs, "; "))
	}
	p := out.Data.Products
	if p == nil {
		return productsPage{}, pipeline.Permanentf("%s: no data.products in %q", op, httpx.Snippet(raw))
	}
	total, err := p.Total.Int64()
	if err != nil {
		return productsPage{}, pipeline.Permanentf("%s: total %q is not a number", op, p.Total)
	}
	cur, _ := p.CurrentPage.Int64()
	return productsPage{Total: total, CurrentPage: int(cur), Items: p.Items}, nil
}

// identity is the key used to drop repeats: productId, else uuid.
func identity(item json.RawMessage) string {
	var id struct {
		ProductID json.RawMessage `json:"productId"`
		UUID      string          `json:"uuid"`
	}
	if json.Unmarshal(item, &id) != nil {
		return ""
	}
	if s := strings.TrimSpace(string(id.ProductID)); s != "" && s != "null" {
		return "id:" + s
	}
	if id.UUID != "" {
		return "uuid:" + id.UUID
	}
	return ""
}
