package coze

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// CatalogDocuments lists the knowledge base's catalog documents (names
// with Config.DocumentPrefix), newest first by the rule ReplaceCatalog
// keeps (create time, then id): what the knowledge base itself holds, for
// the operations console. The live catalog is the first one with
// StatusDone; others are an upload still processing or leftovers a later
// sync cleans up.
func (c *Client) CatalogDocuments(ctx context.Context) ([]Document, error) {
	docs, err := c.ListDocuments(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog documents: %w", err)
	}
	out := docs[:0]
	for _, d := range docs {
		if strings.HasPrefix(d.Name, c.cfg.DocumentPrefix) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Document) int {
		switch {
		case a.newer(b):
			return -1
		case b.newer(a):
			return 1
		}
		return 0
	})
	return out, nil
}
