package localfile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// CatalogFile is a pipeline.CatalogTarget that writes the catalog CSV to
// Path and a small description of it to Path+".json". Both are replaced
// atomically, so `cat` or a spreadsheet never sees half a catalog.
//
// The CSV is written before its description: after a crash in between, the
// .json still names the previous hash, so the next publish rewrites both
// instead of skipping. The reverse order could leave a new .json next to
// an old CSV, and the skip would make that permanent.
type CatalogFile struct {
	path string
	now  func() time.Time
	mu   sync.Mutex // one publish at a time: both files describe the same catalog
}

// CatalogFileMeta is the content of Path+".json".
type CatalogFileMeta struct {
	Name        string    `json:"name"`
	Hash        string    `json:"hash"`
	Rows        int       `json:"rows"`
	PublishedAt time.Time `json:"published_at"`
}

// NewCatalogFile writes the catalog to path (its directory is created when
// needed). now stamps published_at; nil means time.Now.
func NewCatalogFile(path string, now func() time.Time) *CatalogFile {
	if now == nil {
		now = time.Now
	}
	return &CatalogFile{path: path, now: now}
}

// Path is where the CSV goes; its description is Path()+".json".
func (f *CatalogFile) Path() string { return f.path }

// PublishCatalog makes doc the current catalog file. It skips the write
// (Skipped) only when the CSV on disk hashes to doc's hash and the .json
// names it: the decision is taken on what the file holds, so a CSV edited or
// removed by hand is rewritten.
// The DocumentID is the CSV's path. Errors are file system errors, which a
// retry may well fix (a full disk), so they are left unclassified.
func (f *CatalogFile) PublishCatalog(ctx context.Context, doc pipeline.CatalogDocument) (pipeline.CatalogPublishResult, error) {
	if err := ctx.Err(); err != nil {
		return pipeline.CatalogPublishResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	res := pipeline.CatalogPublishResult{DocumentID: f.path}
	if meta, err := f.current(); err == nil && meta.Hash == doc.Hash && fileHash(f.path) == doc.Hash {
		res.Skipped = true
		return res, nil
	}
	if err := writeFileAtomic(f.path, doc.Content, 0o644); err != nil {
		return res, fmt.Errorf("write catalog %s: %w", f.path, err)
	}
	meta, err := json.MarshalIndent(CatalogFileMeta{
		Name: doc.Name, Hash: doc.Hash, Rows: doc.Rows, PublishedAt: f.now().UTC(),
	}, "", "  ")
	if err != nil {
		return res, fmt.Errorf("encode catalog description: %w", err)
	}
	if err := writeFileAtomic(f.path+".json", append(meta, '\n'), 0o644); err != nil {
		return res, fmt.Errorf("write catalog description %s.json: %w", f.path, err)
	}
	return res, nil
}

// fileHash is the hex SHA-256 of the file at path, or "" if it cannot be
// read.
func fileHash(path string) string {
	fh, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer func() { _ = fh.Close() }() // opened read-only
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Current returns the description of the catalog file as last published,
// and fs.ErrNotExist when nothing was published yet.
func (f *CatalogFile) Current() (CatalogFileMeta, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current()
}

func (f *CatalogFile) current() (CatalogFileMeta, error) {
	var meta CatalogFileMeta
	data, err := os.ReadFile(f.path + ".json")
	if err != nil {
		return meta, err
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		// A damaged description only costs a rewrite; report it as absent.
		return meta, errors.Join(fs.ErrNotExist, fmt.Errorf("%s.json: %w", f.path, err))
	}
	return meta, nil
}
