package coze_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/shopstream/shopstream/connectors/coze"
	"github.com/shopstream/shopstream/connectors/coze/cozetest"
)

// CatalogDocuments reports the catalog documents as document/list does —
// id, name, status, size, create and update time — newest first, leaving
// other documents out, across pages.
func TestCatalogDocumentsReportsWhatCozeHolds(t *testing.T) {
	fake := cozetest.Start(t, token, dataset)
	c := newClient(t, fake, func(cfg *coze.Config) { cfg.ListPageSize = 2 })
	fake.Seed("faq.txt", []byte("hand-made, not ours"), cozetest.StatusDone)
	content := bytes.Repeat([]byte("sku,name\n"), 100)
	res, err := c.ReplaceCatalog(t.Context(), c.NewCatalogDocument(content))
	if err != nil {
		t.Fatal(err)
	}
	edited := time.Now().Add(time.Hour).Truncate(time.Second)
	fake.SetUpdated(res.DocumentID, edited)
	leftover := fake.Seed("shopstream-catalog-old.txt", []byte("x"), cozetest.StatusProcessing)

	docs, err := c.CatalogDocuments(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 {
		t.Fatalf("%d catalog documents: %+v", len(docs), docs)
	}
	if docs[0].ID != leftover || docs[1].ID != res.DocumentID {
		t.Errorf("order %s, %s; want the newest (%s) first", docs[0].ID, docs[1].ID, leftover)
	}
	live := docs[1]
	if live.Name != res.Name || live.Status != cozetest.StatusDone || live.Size != int64(len(content)) ||
		live.UpdateTime != edited.Unix() || live.CreateTime == 0 || live.CreateTime == live.UpdateTime {
		t.Errorf("live document %+v", live)
	}
	if v := fake.Violations(); len(v) > 0 {
		t.Errorf("contract violations: %v", v)
	}
}
