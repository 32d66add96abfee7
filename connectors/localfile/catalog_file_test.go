package localfile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

func catalogDoc(content string, rows int) pipeline.CatalogDocument {
	sum := sha256.Sum256([]byte(content))
	h := hex.EncodeToString(sum[:])
	return pipeline.CatalogDocument{Name: pipeline.CatalogDocumentName(h), Hash: h, Content: []byte(content), Rows: rows}
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestCatalogFilePublish(t *testing.T) {
	v1 := catalogDoc("id,name\r\n1,Mug\r\n", 1)
	v2 := catalogDoc("id,name\r\n1,Mug\r\n2,Cup\r\n", 2)
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600))

	tests := []struct {
		name      string
		docs      []pipeline.CatalogDocument
		tamper    func(t *testing.T, path string) // between the last two publishes
		wantSkips []bool
	}{
		{"first publish writes", []pipeline.CatalogDocument{v1}, nil, []bool{false}},
		{"same hash is skipped", []pipeline.CatalogDocument{v1, v1}, nil, []bool{false, true}},
		{"new hash replaces", []pipeline.CatalogDocument{v1, v2}, nil, []bool{false, false}},
		{"back to an old hash writes again", []pipeline.CatalogDocument{v1, v2, v1}, nil, []bool{false, false, false}},
		{"missing csv is rewritten despite the json", []pipeline.CatalogDocument{v1, v1},
			func(t *testing.T, path string) { must(t, os.Remove(path)) }, []bool{false, false}},
		{"edited csv is rewritten despite the json", []pipeline.CatalogDocument{v1, v1},
			func(t *testing.T, path string) { must(t, os.WriteFile(path, []byte("id,name\r\n"), 0o644)) }, []bool{false, false}},
		{"damaged json means rewrite", []pipeline.CatalogDocument{v1, v1},
			func(t *testing.T, path string) { must(t, os.WriteFile(path+".json", []byte("{"), 0o644)) }, []bool{false, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "data", "catalog.csv") // the directory is created
			f := NewCatalogFile(path, fixedClock(at))
			for i, doc := range tc.docs {
				if i == len(tc.docs)-1 && tc.tamper != nil {
					tc.tamper(t, path)
				}
				res, err := f.PublishCatalog(t.Context(), doc)
				if err != nil {
					t.Fatalf("publish %d: %v", i, err)
				}
				if res.Skipped != tc.wantSkips[i] || res.DocumentID != path {
					t.Errorf("publish %d = %+v, want Skipped %v, DocumentID %s", i, res, tc.wantSkips[i], path)
				}
			}
			last := tc.docs[len(tc.docs)-1]
			if got, err := os.ReadFile(path); err != nil || string(got) != string(last.Content) {
				t.Errorf("csv = %q, %v; want %q", got, err, last.Content)
			}
			meta, err := f.Current()
			if err != nil {
				t.Fatal(err)
			}
			want := CatalogFileMeta{Name: last.Name, Hash: last.Hash, Rows: last.Rows, PublishedAt: at.UTC()}
			if meta != want {
				t.Errorf("meta = %+v, want %+v", meta, want)
			}
			raw, _ := os.ReadFile(path + ".json")
			var fields map[string]any
			must(t, json.Unmarshal(raw, &fields))
			for _, k := range []string{"name", "hash", "rows", "published_at"} {
				if _, ok := fields[k]; !ok {
					t.Errorf("%s.json has no %q: %s", path, k, raw)
				}
			}
			assertNoTempFiles(t, filepath.Dir(path))
		})
	}
}

// TestCatalogFileAtomicReplace reads the catalog while it is being replaced
// over and over: every read must be one whole version, never a mix or an
// empty file.
func TestCatalogFileAtomicReplace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.csv")
	f := NewCatalogFile(path, nil)
	versions := map[string]bool{}
	var docs []pipeline.CatalogDocument
	for i := range 4 {
		content := strings.Repeat(string(rune('a'+i)), 256<<10)
		docs = append(docs, catalogDoc(content, i))
		versions[content] = true
	}
	if _, err := f.PublishCatalog(t.Context(), docs[0]); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		for i := range 40 {
			if _, err := f.PublishCatalog(t.Context(), docs[i%len(docs)]); err != nil {
				done <- err
				return
			}
		}
		close(done)
	}()
	reads := 0
	for finished := false; !finished; reads++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		default:
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read during replace: %v", err)
		}
		if !versions[string(got)] {
			t.Fatalf("read %d bytes that are no whole version", len(got))
		}
	}
	t.Logf("%d consistent reads during 40 replacements", reads)
	assertNoTempFiles(t, filepath.Dir(path))
}

func TestCatalogFileCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.csv")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := NewCatalogFile(path, nil).PublishCatalog(ctx, catalogDoc("x", 0)); err == nil {
		t.Fatal("publish with a cancelled context succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cancelled publish wrote %s: %v", path, err)
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
