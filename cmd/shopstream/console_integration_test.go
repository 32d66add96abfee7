package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopstream/shopstream/connectors/console"
	"github.com/shopstream/shopstream/connectors/localfile"
	"github.com/shopstream/shopstream/internal/lifecycle"
)

// The console's catalog page over the real broker: the processor (local
// file target, as in dev) publishes the catalog; the console shows it,
// serves the CSV, and "Regenerate now" rebuilds it from the state topic
// with the same pipeline.CatalogSync (here after the files were removed,
// so the rewrite is visible).
func TestIntegrationConsoleCatalog(t *testing.T) {
	dsnEnv, _ := analyticsDatabase(t)
	inbox := analyticsStartInbox(t)
	cfg := testConfig(t, append(inbox.Env(), dsnEnv, "SHOPSTREAM_CATALOG_QUIET=300ms")...)
	resetKafka(t, cfg)
	startServe(t, cfg)
	log := testLogger(t).With("role", "process")
	reg := newRegistry()
	parts, err := newProcessor(t.Context(), cfg, log, reg, true)
	if err != nil {
		t.Fatal(err)
	}
	harnessProcessors.Add(1) // as startProcess counts its members
	proc := runRole(t, "process", log, reg, parts)
	go func() {
		<-proc.done
		harnessProcessors.Add(-1)
	}()
	base := time.Now().Add(-time.Minute)
	for i, name := range []string{"Blue Mug", "Green Teapot"} {
		if code := postWebhook(t, cfg, "product", productBody("product.created", 9100+i, name, "12.50", base)); code != http.StatusOK {
			t.Fatalf("post product: %d", code)
		}
	}
	path := filepath.Join(cfg.DataDir, "catalog.csv")
	readMeta := func() (localfile.CatalogFileMeta, bool) {
		var m localfile.CatalogFileMeta
		b, err := os.ReadFile(path + ".json")
		return m, err == nil && json.Unmarshal(b, &m) == nil
	}
	waitUntil(t, time.Minute, "the catalog file with both products", func() bool {
		m, ok := readMeta()
		return ok && m.Rows == 2
	})
	meta, _ := readMeta()

	addr := freeAddr(t)
	ccfg := console.Config{Addr: addr, Token: browserToken, SessionKey: browserSessionKey, Log: testLogger(t).With("role", "console")}
	p, err := newConsolePart(t.Context(), cfg, ccfg, ccfg.Log, nil)
	if err != nil {
		t.Fatal(err)
	}
	runRole(t, "console", ccfg.Log, nil, []lifecycle.Part{p})
	do := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+browserToken)
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitUntil(t, 30*time.Second, "the console answers", func() bool { code, _ := do(http.MethodGet, "/catalog"); return code == http.StatusOK })
	if _, page := do(http.MethodGet, "/catalog"); !strings.Contains(page, meta.Hash) || !strings.Contains(page, meta.Name) {
		t.Fatalf("catalog page does not show %s", meta.Name)
	}
	if code, csv := do(http.MethodGet, "/catalog/download"); code != http.StatusOK || !strings.Contains(csv, "Blue Mug") || !strings.Contains(csv, "Green Teapot") {
		t.Fatalf("download: %d %q", code, csv)
	}
	for _, f := range []string{path, path + ".json"} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if code, _ := do(http.MethodGet, "/catalog/download"); code != http.StatusNotFound {
		t.Fatalf("download without a file: %d", code)
	}
	if code, body := do(http.MethodPost, "/catalog/regenerate"); code != http.StatusSeeOther {
		t.Fatalf("regenerate: %d %s", code, body)
	}
	again, ok := readMeta()
	if !ok || again.Rows != 2 || again.Hash != meta.Hash {
		t.Fatalf("regenerated %+v, want the same catalog as %+v", again, meta)
	}
	if _, csv := do(http.MethodGet, "/catalog/download"); !strings.Contains(csv, "Green Teapot") {
		t.Fatalf("regenerated CSV %q", csv)
	}
}
