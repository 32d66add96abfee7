package coze_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/shopstream/shopstream/connectors/coze"
	"github.com/shopstream/shopstream/connectors/coze/cozetest"
	"github.com/shopstream/shopstream/pipeline"
)

func TestReplaceCatalogCSV(t *testing.T) {
	t.Run("table knowledge base", func(t *testing.T) {
		fake := cozetest.Start(t, token, dataset)
		fake.SetDatasetFormat(1)
		c := newClient(t, fake, func(cfg *coze.Config) { cfg.FileType = "csv" })
		res, err := c.ReplaceCatalog(t.Context(), c.NewCatalogDocument([]byte("sku\nA\n")))
		docs := fake.Documents()
		if err != nil || !strings.HasSuffix(res.Name, ".csv") || docs[0].FormatType != 1 || docs[0].FileType != "csv" {
			t.Fatalf("res=%+v err=%v docs=%+v", res, err, docs)
		}
		noViolations(t, fake)
	})
	t.Run("csv into a text knowledge base is permanent", func(t *testing.T) {
		fake := cozetest.Start(t, token, dataset)
		c := newClient(t, fake, func(cfg *coze.Config) { cfg.FileType = "csv" })
		_, err := c.ReplaceCatalog(t.Context(), c.NewCatalogDocument([]byte("sku\nA\n")))
		var ae *coze.APIError
		if !pipeline.IsPermanent(err) || !errors.As(err, &ae) {
			t.Fatalf("err = %v, want permanent APIError", err)
		}
	})
}

func TestReplaceCatalogRejectsBeforeSending(t *testing.T) {
	tests := []struct {
		name string
		doc  func(*coze.Client) coze.CatalogDocument
	}{
		{"too large", func(c *coze.Client) coze.CatalogDocument { return c.NewCatalogDocument(make([]byte, 1025)) }},
		{"empty", func(c *coze.Client) coze.CatalogDocument { return c.NewCatalogDocument(nil) }},
		{"name without the prefix", func(*coze.Client) coze.CatalogDocument {
			return coze.CatalogDocument{Name: "catalog.txt", Content: []byte("x")}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := cozetest.Start(t, token, dataset)
			c := newClient(t, fake, func(cfg *coze.Config) { cfg.MaxContentBytes = 1024 })
			if _, err := c.ReplaceCatalog(t.Context(), tt.doc(c)); !pipeline.IsPermanent(err) {
				t.Fatalf("err = %v, want permanent", err)
			}
			if n := fake.Requests("/open_api/knowledge/document/list"); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}
}

func TestFakeChecksContract(t *testing.T) {
	fake := cozetest.Start(t, token, dataset)
	c, err := coze.New(coze.Config{BaseURL: fake.URL, Token: "wrong", DatasetID: dataset}, fake.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListDocuments(t.Context())
	var se *coze.StatusError
	if !pipeline.IsPermanent(err) || !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
		t.Fatalf("err = %v, want permanent 401", err)
	}
	if v := fake.Violations(); len(v) != 1 || !strings.Contains(v[0], "Authorization") {
		t.Errorf("violations = %q", v)
	}
}

func TestReplaceCatalogRemovesDuplicateUploads(t *testing.T) {
	fake := cozetest.Start(t, token, dataset)
	c := newClient(t, fake)
	doc := c.NewCatalogDocument([]byte("same"))
	a := fake.Seed(doc.Name, doc.Content, cozetest.StatusDone)
	b := fake.Seed(doc.Name, doc.Content, cozetest.StatusDone)
	failed := fake.Seed(doc.Name, doc.Content, cozetest.StatusFailed)
	res, err := c.ReplaceCatalog(t.Context(), doc)
	if err != nil || !res.Skipped || len(fake.Documents()) != 1 {
		t.Fatalf("res=%+v err=%v docs=%v", res, err, names(fake.Documents()))
	}
	if kept := fake.Documents()[0].ID; kept != a && kept != b || kept == failed {
		t.Errorf("kept %s", kept)
	}
	noViolations(t, fake)
}
