package coze_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopstream/shopstream/connectors/coze"
	"github.com/shopstream/shopstream/connectors/coze/cozetest"
	"github.com/shopstream/shopstream/pipeline"
)

const (
	token   = "pat_test"
	dataset = "7301234567890123456"
)

func newClient(t *testing.T, fake *cozetest.Server, mutate ...func(*coze.Config)) *coze.Client {
	t.Helper()
	cfg := coze.Config{BaseURL: fake.URL, Token: token, DatasetID: dataset,
		PollInterval: time.Millisecond, MaxPollInterval: 5 * time.Millisecond, ProcessTimeout: 2 * time.Second,
		RequestTimeout: 2 * time.Second}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := coze.New(cfg, fake.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func names(docs []cozetest.Document) []string {
	var out []string
	for _, d := range docs {
		out = append(out, d.Name)
	}
	return out
}

func noViolations(t *testing.T, fake *cozetest.Server) {
	t.Helper()
	if v := fake.Violations(); len(v) > 0 {
		t.Errorf("contract violations: %q", v)
	}
}

func TestReplaceCatalog(t *testing.T) {
	catalog := []byte("sku,name\nMUG-01,Mug\n")
	tests := []struct {
		name  string
		setup func(*cozetest.Server)
		check func(t *testing.T, fake *cozetest.Server, res coze.Result, err error)
	}{
		{
			name: "first upload into an empty knowledge base",
			check: func(t *testing.T, fake *cozetest.Server, res coze.Result, err error) {
				docs := fake.Documents()
				if err != nil || res.Skipped || len(docs) != 1 || docs[0].ID != res.DocumentID {
					t.Fatalf("res=%+v err=%v docs=%v", res, err, names(docs))
				}
				if !bytes.Equal(docs[0].Content, catalog) || docs[0].Status != cozetest.StatusDone || docs[0].FileType != "txt" {
					t.Errorf("stored %+v", docs[0])
				}
				if !strings.HasPrefix(res.Name, "shopstream-catalog-") || !strings.HasSuffix(res.Name, ".txt") {
					t.Errorf("name %q", res.Name)
				}
			},
		},
		{
			name: "replaces old catalog documents and keeps everything else",
			setup: func(f *cozetest.Server) {
				f.Seed("shopstream-catalog-0000000000000000.txt", []byte("old"), cozetest.StatusDone)
				f.Seed("faq.txt", []byte("returns within 30 days"), cozetest.StatusDone)
				f.Seed("shopstream-catalog-1111111111111111.txt", []byte("older, failed"), cozetest.StatusFailed)
			},
			check: func(t *testing.T, fake *cozetest.Server, res coze.Result, err error) {
				got := names(fake.Documents())
				if err != nil || len(res.Deleted) != 2 || len(got) != 2 || got[0] != "faq.txt" || got[1] != res.Name {
					t.Fatalf("res=%+v err=%v docs=%v", res, err, got)
				}
			},
		},
		{
			name: "failed processing deletes the new document and keeps the old",
			setup: func(f *cozetest.Server) {
				f.Seed("shopstream-catalog-0000000000000000.txt", []byte("old"), cozetest.StatusDone)
				f.FailProcessingNext(1)
			},
			check: func(t *testing.T, fake *cozetest.Server, _ coze.Result, err error) {
				if !errors.Is(err, coze.ErrProcessingFailed) || pipeline.IsPermanent(err) {
					t.Fatalf("err = %v, want retryable ErrProcessingFailed", err)
				}
				if got := names(fake.Documents()); len(got) != 1 || got[0] != "shopstream-catalog-0000000000000000.txt" {
					t.Fatalf("docs = %v, want only the old catalog", got)
				}
			},
		},
		{
			name:  "server error while listing is retryable",
			setup: func(f *cozetest.Server) { f.FailNext(1, http.StatusBadGateway) },
			check: func(t *testing.T, fake *cozetest.Server, _ coze.Result, err error) {
				var se *coze.StatusError
				if err == nil || pipeline.IsPermanent(err) || !errors.As(err, &se) || se.Status != http.StatusBadGateway {
					t.Fatalf("err = %v, want retryable 502", err)
				}
				if fake.Uploads() != 0 {
					t.Error("uploaded despite the failed listing")
				}
			},
		},
		{
			name:  "429 carries Retry-After",
			setup: func(f *cozetest.Server) { f.FailNextRetryAfter(1, http.StatusTooManyRequests, "7") },
			check: func(t *testing.T, _ *cozetest.Server, _ coze.Result, err error) {
				if after, ok := pipeline.RetryAfter(err); !ok || after != 7*time.Second || pipeline.IsPermanent(err) {
					t.Fatalf("err = %v, want retryable after 7s", err)
				}
			},
		},
		{
			name: "400 on create is permanent",
			setup: func(f *cozetest.Server) {
				f.FailPathNext("/open_api/knowledge/document/create", 1, http.StatusBadRequest)
			},
			check: func(t *testing.T, _ *cozetest.Server, _ coze.Result, err error) {
				if !pipeline.IsPermanent(err) {
					t.Fatalf("err = %v, want permanent", err)
				}
			},
		},
		{
			name:  "business code is permanent",
			setup: func(f *cozetest.Server) { f.FailNextCode(1, 4000) },
			check: func(t *testing.T, _ *cozetest.Server, _ coze.Result, err error) {
				var ae *coze.APIError
				if !pipeline.IsPermanent(err) || !errors.As(err, &ae) || ae.Code != 4000 {
					t.Fatalf("err = %v, want permanent APIError 4000", err)
				}
			},
		},
		{
			name: "transient poll errors are waited out",
			setup: func(f *cozetest.Server) {
				f.FailPathNext("/v1/datasets/"+dataset+"/process", 2, http.StatusServiceUnavailable)
			},
			check: func(t *testing.T, fake *cozetest.Server, _ coze.Result, err error) {
				if err != nil || len(fake.Documents()) != 1 {
					t.Fatalf("err = %v docs=%v", err, names(fake.Documents()))
				}
			},
		},
		{
			name:  "total outage is retryable",
			setup: func(f *cozetest.Server) { f.SetDown(true) },
			check: func(t *testing.T, _ *cozetest.Server, _ coze.Result, err error) {
				if err == nil || pipeline.IsPermanent(err) {
					t.Fatalf("err = %v, want retryable", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := cozetest.Start(t, token, dataset)
			if tt.setup != nil {
				tt.setup(fake)
			}
			c := newClient(t, fake)
			res, err := c.ReplaceCatalog(t.Context(), c.NewCatalogDocument(catalog))
			tt.check(t, fake, res, err)
			noViolations(t, fake)
		})
	}
}

func TestReplaceCatalogSkipsSameHash(t *testing.T) {
	fake := cozetest.Start(t, token, dataset)
	c := newClient(t, fake)
	doc := c.NewCatalogDocument([]byte("sku,name\nMUG-01,Mug\n"))
	first, err := c.ReplaceCatalog(t.Context(), doc)
	if err != nil || first.Skipped {
		t.Fatalf("first: %+v %v", first, err)
	}
	second, err := c.ReplaceCatalog(t.Context(), doc)
	if err != nil || !second.Skipped || second.DocumentID != first.DocumentID {
		t.Fatalf("second: %+v %v, want skipped %s", second, err, first.DocumentID)
	}
	if fake.Uploads() != 1 {
		t.Errorf("uploads = %d, want 1", fake.Uploads())
	}
	third, err := c.ReplaceCatalog(t.Context(), c.NewCatalogDocument([]byte("sku,name\nMUG-02,Cup\n")))
	if err != nil || third.Skipped || len(third.Deleted) != 1 || third.Deleted[0] != first.DocumentID {
		t.Fatalf("third: %+v %v", third, err)
	}
	noViolations(t, fake)
}

// A timed-out upload is kept and resumed, not uploaded a second time.
func TestReplaceCatalogResumesAfterTimeout(t *testing.T) {
	fake := cozetest.Start(t, token, dataset)
	old := fake.Seed("shopstream-catalog-0000000000000000.txt", []byte("old"), cozetest.StatusDone)
	fake.SetProcessPolls(1 << 20)
	c := newClient(t, fake, func(cfg *coze.Config) { cfg.ProcessTimeout = 30 * time.Millisecond })
	doc := c.NewCatalogDocument([]byte("new catalog"))
	_, err := c.ReplaceCatalog(t.Context(), doc)
	if !errors.Is(err, coze.ErrProcessingTimeout) || pipeline.IsPermanent(err) {
		t.Fatalf("err = %v, want retryable ErrProcessingTimeout", err)
	}
	docs := fake.Documents()
	if len(docs) != 2 {
		t.Fatalf("docs = %v, want old and new", names(docs))
	}
	fake.SetStatus(docs[1].ID, cozetest.StatusDone)
	res, err := c.ReplaceCatalog(t.Context(), doc)
	if err != nil || res.DocumentID != docs[1].ID || len(res.Deleted) != 1 || res.Deleted[0] != old {
		t.Fatalf("res = %+v err = %v", res, err)
	}
	if fake.Uploads() != 1 {
		t.Errorf("uploads = %d, want 1", fake.Uploads())
	}
	noViolations(t, fake)
}

func TestReplaceCatalogPagesAndBatches(t *testing.T) {
	fake := cozetest.Start(t, token, dataset)
	for i := range 150 {
		fake.Seed(fmt.Sprintf("shopstream-catalog-%016d.txt", i), []byte("old"), cozetest.StatusDone)
	}
	for i := range 60 {
		fake.Seed(fmt.Sprintf("manual-%d.txt", i), []byte("keep"), cozetest.StatusDone)
	}
	c := newClient(t, fake, func(cfg *coze.Config) { cfg.ListPageSize = 40 })
	res, err := c.ReplaceCatalog(t.Context(), c.NewCatalogDocument([]byte("new")))
	if err != nil || len(res.Deleted) != 150 {
		t.Fatalf("res deleted %d, err = %v", len(res.Deleted), err)
	}
	if got := len(fake.Documents()); got != 61 {
		t.Errorf("%d documents left, want 61", got)
	}
	if got := fake.Requests("/open_api/knowledge/document/delete"); got != 2 {
		t.Errorf("%d delete calls, want 2 (batches of 100)", got)
	}
	noViolations(t, fake)
}

// TestReplaceCatalogTwoOwners: two processes replace the catalog at the same
// time (a revoked owner that has not noticed yet, and the new one), in
// several interleavings. Exactly one catalog document survives, it is one of
// the two and its owner reports it, the FAQ is untouched, and no error is
// permanent (a superseded owner retries and compares with the live one).
func TestReplaceCatalogTwoOwners(t *testing.T) {
	for _, polls := range [][2]int{{0, 0}, {1, 6}, {6, 1}, {3, 3}} {
		t.Run(fmt.Sprintf("polls %d-%d", polls[0], polls[1]), func(t *testing.T) {
			fake := cozetest.Start(t, token, dataset)
			fake.Seed("faq.txt", []byte("keep"), cozetest.StatusDone)
			fake.Seed("shopstream-catalog-0000000000000000.txt", []byte("old"), cozetest.StatusDone)
			short := func(cfg *coze.Config) { cfg.ProcessTimeout = 300 * time.Millisecond }
			owners := []*coze.Client{newClient(t, fake, short), newClient(t, fake, short)}
			type outcome struct {
				res coze.Result
				err error
			}
			out := make([]outcome, 2)
			var wg sync.WaitGroup
			for i, c := range owners {
				doc := c.NewCatalogDocument(fmt.Appendf(nil, "catalog of owner %d\n", i))
				wg.Go(func() {
					fake.SetProcessPolls(polls[i])
					res, err := c.ReplaceCatalog(t.Context(), doc)
					out[i] = outcome{res, err}
				})
			}
			wg.Wait()

			var catalogs []cozetest.Document
			for _, d := range fake.Documents() {
				if strings.HasPrefix(d.Name, "shopstream-catalog-") {
					catalogs = append(catalogs, d)
				}
			}
			if len(catalogs) != 1 || string(catalogs[0].Content) == "old" {
				t.Fatalf("catalog documents left: %v (results %+v), want exactly one new one", names(catalogs), out)
			}
			if n := len(fake.Documents()); n != 2 {
				t.Errorf("%d documents left, want the catalog and the FAQ", n)
			}
			// An owner may report success and be superseded afterwards by
			// the other one, which then reports the live document: the
			// later document wins, and only one is ever left.
			live := false
			for i, o := range out {
				switch {
				case o.err == nil && o.res.DocumentID == catalogs[0].ID:
					live = true
				case o.err != nil && pipeline.IsPermanent(o.err):
					t.Errorf("owner %d: permanent %v", i, o.err)
				}
			}
			if !live {
				t.Errorf("no owner reports the live document %s: %+v", catalogs[0].ID, out)
			}
			noViolations(t, fake)
		})
	}
}

// A later sync of the losing owner converges: it sees the live document,
// whose content differs from its own, and uploads again; the result is
// again exactly one document.
func TestReplaceCatalogAfterSupersededConverges(t *testing.T) {
	fake := cozetest.Start(t, token, dataset)
	a, b := newClient(t, fake), newClient(t, fake)
	if _, err := a.ReplaceCatalog(t.Context(), a.NewCatalogDocument([]byte("a\n"))); err != nil {
		t.Fatal(err)
	}
	res, err := b.ReplaceCatalog(t.Context(), b.NewCatalogDocument([]byte("b\n")))
	if err != nil || len(res.Deleted) != 1 {
		t.Fatalf("b: %+v %v", res, err)
	}
	again, err := a.ReplaceCatalog(t.Context(), a.NewCatalogDocument([]byte("a\n")))
	if err != nil || again.Skipped {
		t.Fatalf("a again: %+v %v, want a fresh upload (the live document is b's)", again, err)
	}
	if docs := fake.Documents(); len(docs) != 1 || string(docs[0].Content) != "a\n" {
		t.Fatalf("docs = %v", names(docs))
	}
}

func TestPublishCatalogIsReplaceCatalog(t *testing.T) {
	fake := cozetest.Start(t, token, dataset)
	var target pipeline.CatalogTarget = newClient(t, fake)
	doc := pipeline.CatalogDocument{Content: []byte("sku,name\nMUG-01,Mug\n"), Rows: 1}
	first, err := target.PublishCatalog(t.Context(), doc)
	if err != nil || first.Skipped || first.DocumentID == "" {
		t.Fatalf("first: %+v %v", first, err)
	}
	second, err := target.PublishCatalog(t.Context(), doc)
	if err != nil || !second.Skipped || second.DocumentID != first.DocumentID {
		t.Fatalf("second: %+v %v, want skipped %s", second, err, first.DocumentID)
	}
	if docs := fake.Documents(); len(docs) != 1 || fake.Uploads() != 1 {
		t.Fatalf("documents %q after %d uploads, want one", names(docs), fake.Uploads())
	}
	noViolations(t, fake)
}
