package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopstream/shopstream/connectors/console"
	"github.com/shopstream/shopstream/connectors/coze/cozetest"
	"github.com/shopstream/shopstream/connectors/inbox/inboxtest"
	"github.com/shopstream/shopstream/internal/lifecycle"
)

// The console's catalog page in production shape, over the real broker:
// the processor publishes to Coze (the fake) and records the publish on
// shopstream.catalog.published; the console shows the document as Coze's
// document/list reports it (id, size, times) beside shopstream's record,
// and serves the CSV byte for byte as the knowledge base received it.
func TestIntegrationConsoleCatalogCoze(t *testing.T) {
	dsnEnv, _ := analyticsDatabase(t)
	inbox := inboxtest.Start(t, inboxToken)
	kb := cozetest.Start(t, cozeToken, cozeDataset)
	kb.SetProcessPolls(0)
	cfg := testConfig(t, append(append(inboxEnv(inbox), cozeEnv(kb)...), dsnEnv, "SHOPSTREAM_CATALOG_QUIET=300ms")...)
	resetKafka(t, cfg)
	startServe(t, cfg)
	startProcess(t, cfg, newRegistry())
	base := time.Now().Add(-time.Minute)
	for i, name := range []string{"Blue Mug", "Green Teapot"} {
		if code := postWebhook(t, cfg, "product", productBody("product.created", 9200+i, name, "12.50", base)); code != http.StatusOK {
			t.Fatalf("post product: %d", code)
		}
	}
	var doc cozetest.Document
	waitUntil(t, time.Minute, "Coze holds the catalog with both products", func() bool {
		docs := kb.Documents()
		if len(docs) != 1 || docs[0].Status != cozetest.StatusDone || !strings.Contains(string(docs[0].Content), "Green Teapot") {
			return false
		}
		doc = docs[0]
		return strings.Contains(string(doc.Content), "Blue Mug")
	})

	addr := freeAddr(t)
	ccfg := console.Config{Addr: addr, Token: browserToken, SessionKey: browserSessionKey, Log: testLogger(t).With("role", "console")}
	p, err := newConsolePart(t.Context(), cfg, ccfg, ccfg.Log, nil)
	if err != nil {
		t.Fatal(err)
	}
	runRole(t, "console", ccfg.Log, nil, []lifecycle.Part{p})
	do := func(path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+browserToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The record is written right after the publish: wait for it on the page.
	var page string
	waitUntil(t, 30*time.Second, "the catalog page shows the recorded publish", func() bool {
		code, body := do("/catalog")
		page = body
		return code == http.StatusOK && strings.Contains(body, `id="download"`)
	})
	for _, want := range []string{`id="kb-doc"`, doc.Name, doc.ID, strconv.Itoa(len(doc.Content)) + " bytes", "processed",
		time.Unix(doc.Created.Unix(), 0).UTC().Format("2006-01-02 15:04:05"), "uploaded at", "<td>2</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("catalog page lacks %q", want)
		}
	}
	if strings.Contains(page, `id="mismatch"`) {
		t.Error("the page reports a mismatch between Coze and the record")
	}
	if code, csv := do("/catalog/download"); code != http.StatusOK || csv != string(doc.Content) {
		t.Errorf("download: %d, %d bytes, want the %d bytes Coze received", code, len(csv), len(doc.Content))
	}
	noViolations(t, "coze", kb.Violations())
}
