package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/shopstream/shopstream/connectors/coze"
	"github.com/shopstream/shopstream/connectors/kafka/catalog"
)

// KnowledgeBase lists the catalog documents the knowledge base holds,
// newest first (coze.Client.CatalogDocuments).
type KnowledgeBase interface {
	CatalogDocuments(ctx context.Context) ([]coze.Document, error)
}

// PublishedCatalogs reads the processor's record of the last publish,
// CSV included (catalog.PublishedLog.Latest on
// shopstream.catalog.published).
type PublishedCatalogs interface {
	Latest(ctx context.Context) (catalog.Published, []byte, bool, error)
}

// KnowledgeBaseCatalog is the catalog with a knowledge-base target (Coze):
// the live document as the knowledge base reports it, beside what
// shopstream recorded when it published (hash, products, when) and the CSV
// it uploaded. Regeneration stays with the catalog owner.
type KnowledgeBaseCatalog struct {
	KnowledgeBase KnowledgeBase
	Published     PublishedCatalogs
	Where         string
	// Request asks the catalog owner for a regeneration (a
	// catalog.regenerate mark on the sync topic); nil: not offered.
	Request func(ctx context.Context, user string) error
}

var cozeStatus = map[int]string{coze.StatusProcessing: "processing", coze.StatusDone: "processed", coze.StatusFailed: "failed"}

func remoteDoc(d coze.Document) RemoteDoc {
	st := cozeStatus[d.Status]
	if st == "" {
		st = fmt.Sprintf("status %d", d.Status)
	}
	r := RemoteDoc{ID: d.ID, Name: d.Name, Status: st, Size: d.Size}
	if d.CreateTime > 0 {
		r.CreateTime = time.Unix(d.CreateTime, 0).UTC()
	}
	if d.UpdateTime > 0 {
		r.UpdateTime = time.Unix(d.UpdateTime, 0).UTC()
	}
	return r
}

// Current asks both sides; a side that fails is reported on the page, not
// as an error, so the other one still shows.
func (c KnowledgeBaseCatalog) Current(ctx context.Context) (CatalogDoc, bool, error) {
	doc := CatalogDoc{Where: c.Where, KnowledgeBase: true, Regenerate: c.Request != nil}
	p, _, recorded, err := c.Published.Latest(ctx)
	switch {
	case err != nil:
		doc.RecordError = err.Error()
	case recorded:
		doc.Recorded = true
		doc.Name, doc.Hash, doc.Products, doc.PublishedAt = p.Name, p.Hash, p.Rows, p.At
		doc.Uploaded, doc.DocumentID, doc.Bytes = p.Uploaded, p.DocumentID, p.Bytes
		if p.CSVOmitted != "" {
			doc.CSVNote = p.CSVOmitted
		}
	}
	docs, err := c.KnowledgeBase.CatalogDocuments(ctx)
	if err != nil {
		doc.RemoteError = err.Error()
	}
	for _, d := range docs {
		if doc.Live == nil && d.Status == coze.StatusDone {
			live := remoteDoc(d)
			doc.Live = &live
			continue
		}
		doc.Others = append(doc.Others, remoteDoc(d))
	}
	// By id: the target names the document itself (Coze: its file type).
	doc.Mismatch = doc.Recorded && err == nil && (doc.Live == nil || doc.Live.ID != doc.DocumentID)
	return doc, doc.Recorded || doc.Live != nil, nil
}

// OpenCSV returns the CSV recorded with the last publish.
func (c KnowledgeBaseCatalog) OpenCSV(ctx context.Context) (io.ReadCloser, error) {
	p, csv, ok, err := c.Published.Latest(ctx)
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, errors.New("no catalog has been published since shopstream.catalog.published exists")
	case p.CSVOmitted != "":
		return nil, fmt.Errorf("the CSV of %s was not kept: %s", p.Name, p.CSVOmitted)
	}
	return io.NopCloser(bytes.NewReader(csv)), nil
}

// Regenerate asks the catalog owner (the processor group's debouncer) to
// regenerate: queued, it runs within the owner's window.
func (c KnowledgeBaseCatalog) Regenerate(ctx context.Context, user string) (bool, error) {
	if c.Request == nil {
		return false, ErrNoRegenerate
	}
	if err := c.Request(ctx, user); err != nil {
		return false, fmt.Errorf("ask the catalog owner: %w", err)
	}
	return true, nil
}
