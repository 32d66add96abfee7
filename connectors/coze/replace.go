package coze

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/shopstream/shopstream/internal/clock"
	"github.com/shopstream/shopstream/pipeline"
)

// ErrProcessingFailed means Coze could not process the new catalog document
// (status 9). The old catalog is kept; the error is retryable.
var ErrProcessingFailed = errors.New("coze document processing failed")

// ErrProcessingTimeout means the new document was still processing after
// Config.ProcessTimeout. It is kept: the next ReplaceCatalog with the same
// content resumes waiting for it instead of uploading again.
var ErrProcessingTimeout = errors.New("coze document still processing")

// CatalogDocument is one rendering of the catalog.
type CatalogDocument struct {
	// Name carries the content hash, e.g. "shopstream-catalog-<sha256[:16]>.txt",
	// and must start with Config.DocumentPrefix. Empty: derived from Hash.
	Name     string
	Content  []byte
	FileType string // "txt" or "csv"; empty: Config.FileType
	Hash     string // hex sha256 of Content; empty: computed
}

// NewCatalogDocument names content by its hash with the client's prefix and
// file type, so equal catalogs get equal names and are not uploaded twice.
func (c *Client) NewCatalogDocument(content []byte) CatalogDocument {
	d := CatalogDocument{Content: content}
	return c.complete(d)
}

func (c *Client) complete(d CatalogDocument) CatalogDocument {
	if d.FileType == "" {
		d.FileType = c.cfg.FileType
	}
	if d.Hash == "" {
		sum := sha256.Sum256(d.Content)
		d.Hash = hex.EncodeToString(sum[:])
	}
	if d.Name == "" {
		d.Name = c.cfg.DocumentPrefix + d.Hash[:min(16, len(d.Hash))] + "." + d.FileType
	}
	return d
}

// ErrSuperseded means another process made a newer catalog document live
// while this one was being processed; this one was removed so that exactly
// one stays. It is retryable: the next sync compares its content with the
// live document and uploads again only if they differ.
var ErrSuperseded = errors.New("coze catalog document superseded by a newer one")

// Result says what ReplaceCatalog did.
type Result struct {
	DocumentID string   // the catalog document now live
	Name       string   // its name
	Skipped    bool     // the same content was already live: nothing uploaded
	Deleted    []string // ids of previous catalog documents removed
}

// ReplaceCatalog makes doc the one catalog document of the knowledge base.
//
// Protocol (Coze has no atomic replace): list the documents; if one with the
// same name is already processed, skip the upload (the name carries the
// content hash, so this compares with what the knowledge base holds); if
// one is still processing (an earlier attempt timed out), wait for it;
// otherwise create the document. If processing fails, delete the new
// document, keep the old ones and return a retryable error wrapping
// ErrProcessingFailed.
//
// Once the document is processed, list AGAIN and keep only the newest
// processed catalog document (by create time, then id): every older or
// failed document with Config.DocumentPrefix is deleted (never anything
// without it), documents newer than that one and still processing are left
// to the process that uploads them. Two owners that replace at the same time (a
// revoked owner that has not noticed yet) therefore agree on one survivor
// whatever the interleaving; the one whose document lost gets ErrSuperseded.
// The first listing could not do this: another owner's upload is not in it.
// Cleanup also runs on a skip, so a retry after a failed delete converges.
func (c *Client) ReplaceCatalog(ctx context.Context, doc CatalogDocument) (Result, error) {
	c.replaceMu.Lock()
	defer c.replaceMu.Unlock()
	start := c.now()

	doc = c.complete(doc)
	if err := c.checkDocument(doc); err != nil {
		return Result{}, err
	}
	docs, err := c.ListDocuments(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("replace catalog: %w", err)
	}
	var current *Document // same content already uploaded: prefer a processed copy
	for i, d := range docs {
		if sameName(d.Name, doc.Name) && d.Status != StatusFailed &&
			(current == nil || (d.Status == StatusDone && current.Status != StatusDone)) {
			current = &docs[i]
		}
	}
	res := Result{Name: doc.Name}
	if current != nil && current.Status == StatusDone {
		res.DocumentID, res.Skipped = current.ID, true
	} else {
		if current != nil {
			res.DocumentID = current.ID
			c.log.Info("coze catalog document still processing, resuming wait", "document_id", current.ID, "name", doc.Name)
		} else if res.DocumentID, err = c.createDocument(ctx, doc.Name, doc.Content, doc.FileType); err != nil {
			return Result{}, fmt.Errorf("replace catalog: %w", err)
		}
		if err := c.waitProcessed(ctx, res.DocumentID); err != nil {
			if errors.Is(err, ErrProcessingFailed) {
				if derr := c.deleteDocuments(ctx, []string{res.DocumentID}); derr != nil {
					c.log.Warn("coze: could not delete failed catalog document", "document_id", res.DocumentID, "error", derr)
				}
			}
			return Result{}, fmt.Errorf("replace catalog with %s: %w", doc.Name, err)
		}
	}

	return c.keepNewest(ctx, res, doc, len(doc.Content), start)
}

// keepNewest lists the dataset after res.DocumentID was processed and
// deletes every catalog document older than the newest processed one.
func (c *Client) keepNewest(ctx context.Context, res Result, doc CatalogDocument, size int, start time.Time) (Result, error) {
	docs, err := c.ListDocuments(ctx)
	if err != nil {
		return res, fmt.Errorf("replace catalog: new document %s is processed, listing for cleanup: %w", res.DocumentID, err)
	}
	var live *Document
	ours := false
	for i, d := range docs {
		if !strings.HasPrefix(d.Name, c.cfg.DocumentPrefix) {
			continue
		}
		ours = ours || d.ID == res.DocumentID
		if d.Status == StatusDone && (live == nil || d.newer(*live)) {
			live = &docs[i]
		}
	}
	if !ours || live == nil {
		return Result{}, pipeline.Retryable(fmt.Errorf("%w: document %s was removed by another catalog sync", ErrSuperseded, res.DocumentID), 0)
	}
	var stale []string
	for _, d := range docs {
		if d.ID != live.ID && strings.HasPrefix(d.Name, c.cfg.DocumentPrefix) && (!d.newer(*live) || d.Status == StatusFailed) {
			stale = append(stale, d.ID)
		}
	}
	if err := c.deleteDocuments(ctx, stale); err != nil {
		return res, fmt.Errorf("replace catalog: document %s is live, removing %d old ones: %w", live.ID, len(stale), err)
	}
	if live.ID != res.DocumentID && sameName(live.Name, doc.Name) {
		res.DocumentID = live.ID // a duplicate upload of the same content
	}
	if live.ID != res.DocumentID {
		return Result{}, pipeline.Retryable(fmt.Errorf("%w: %s is live, %s (ours) removed", ErrSuperseded, live.Name, res.DocumentID), 0)
	}
	res.Deleted = stale
	c.log.Info("coze catalog replaced", "document_id", res.DocumentID, "name", doc.Name, "skipped", res.Skipped,
		"bytes", size, "deleted", len(stale), "duration", c.now().Sub(start))
	return res, nil
}

// checkDocument rejects documents that retrying cannot fix.
func (c *Client) checkDocument(doc CatalogDocument) error {
	switch {
	case len(doc.Content) == 0:
		return pipeline.Permanentf("replace catalog: empty content")
	case len(doc.Content) > c.cfg.MaxContentBytes:
		return pipeline.Permanentf("replace catalog: %d bytes exceed the %d-byte upload limit (MaxContentBytes)", len(doc.Content), c.cfg.MaxContentBytes)
	case !strings.HasPrefix(doc.Name, c.cfg.DocumentPrefix):
		// Without the prefix the next replacement could never delete it.
		return pipeline.Permanentf("replace catalog: name %q lacks the prefix %q", doc.Name, c.cfg.DocumentPrefix)
	case doc.FileType != "txt" && doc.FileType != "csv":
		return pipeline.Permanentf("replace catalog: file type %q must be txt or csv", doc.FileType)
	}
	return nil
}

// sameName compares document names, allowing one side to have lost its
// extension, because Coze may show an uploaded file with or without it.
func sameName(a, b string) bool {
	return a == b || a == strings.TrimSuffix(b, path.Ext(b)) || strings.TrimSuffix(a, path.Ext(a)) == b
}

// waitProcessed polls with a doubling interval until the document is done,
// failed, or Config.ProcessTimeout passed. Transient poll errors are
// tolerated until the deadline: Coze keeps processing whether we ask or not.
func (c *Client) waitProcessed(ctx context.Context, id string) error {
	deadline := c.now().Add(c.cfg.ProcessTimeout)
	poll := clock.NewBackoff(c.cfg.PollInterval, c.cfg.MaxPollInterval)
	var lastErr error
	for {
		wait := poll.Next()
		p, err := c.DocumentProgress(ctx, id)
		switch {
		case err != nil && pipeline.IsPermanent(err):
			return err
		case err != nil:
			lastErr = err
			if after, ok := pipeline.RetryAfter(err); ok && after > wait {
				wait = after
			}
		case p.Status == StatusDone:
			return nil
		case p.Status == StatusFailed:
			return pipeline.Retryable(fmt.Errorf("%w: document %s: %s", ErrProcessingFailed, id, p.Description), 0)
		}
		if c.now().Add(wait).After(deadline) {
			err := fmt.Errorf("%w: document %s after %s", ErrProcessingTimeout, id, c.cfg.ProcessTimeout)
			if lastErr != nil {
				err = fmt.Errorf("%w (last poll error: %v)", err, lastErr)
			}
			return pipeline.Retryable(err, 0)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return pipeline.Retryable(fmt.Errorf("waiting for coze document %s: %w", id, err), 0)
		}
	}
}
