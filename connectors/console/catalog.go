package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/shopstream/shopstream/connectors/localfile"
)

// ErrNoRegenerate is Catalog.Regenerate's answer where the console cannot
// start a regeneration itself.
var ErrNoRegenerate = errors.New("regenerate now is not available for this catalog target")

func (s *Server) catalog(w http.ResponseWriter, r *http.Request) {
	if s.deps.Catalog == nil {
		s.render(w, r, "catalog", map[string]any{"None": true})
		return
	}
	doc, ok, err := s.deps.Catalog.Current(r.Context())
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, "read the catalog", err)
		return
	}
	s.render(w, r, "catalog", map[string]any{"Doc": doc, "Published": ok, "Notice": r.URL.Query().Get("notice")})
}

func (s *Server) catalogDownload(w http.ResponseWriter, r *http.Request) {
	if s.deps.Catalog == nil {
		http.NotFound(w, r)
		return
	}
	rc, err := s.deps.Catalog.OpenCSV(r.Context())
	if err != nil {
		s.fail(w, r, http.StatusNotFound, "open the catalog CSV", err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="catalog.csv"`)
	_, _ = io.Copy(w, rc) // a client that went away: nothing to do
}

func (s *Server) catalogRegenerate(w http.ResponseWriter, r *http.Request) {
	if s.deps.Catalog == nil {
		http.NotFound(w, r)
		return
	}
	user := sessionOf(r).user
	queued, err := s.deps.Catalog.Regenerate(r.Context(), user)
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, ErrNoRegenerate) {
			status = http.StatusNotImplemented
		}
		s.fail(w, r, status, "regenerate the catalog", err)
		return
	}
	if queued {
		s.log.Info("console: catalog regeneration requested", "user", user)
		http.Redirect(w, r, "/catalog?notice=requested", http.StatusSeeOther)
		return
	}
	s.log.Info("console: catalog regenerated", "user", user)
	http.Redirect(w, r, "/catalog?notice=regenerated", http.StatusSeeOther)
}

// FileCatalog is the local-file catalog target (dev, or catalog sync to a
// file): the CSV at Path and its description at Path+".json", as
// connectors/localfile writes them. Regen, when set, regenerates now.
type FileCatalog struct {
	Path  string
	Regen func(context.Context) error
	// Request asks the catalog owner instead, when Regen is nil.
	Request func(ctx context.Context, user string) error
}

// Current reads the description.
func (c FileCatalog) Current(context.Context) (CatalogDoc, bool, error) {
	b, err := os.ReadFile(c.Path + ".json")
	if errors.Is(err, os.ErrNotExist) {
		return CatalogDoc{Where: c.Path}, false, nil
	}
	if err != nil {
		return CatalogDoc{}, false, fmt.Errorf("catalog description: %w", err)
	}
	var m localfile.CatalogFileMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return CatalogDoc{}, false, fmt.Errorf("catalog description %s: %w", c.Path+".json", err)
	}
	return CatalogDoc{Name: m.Name, Hash: m.Hash, Products: m.Rows, PublishedAt: m.PublishedAt, Where: c.Path}, true, nil
}

// OpenCSV opens the CSV.
func (c FileCatalog) OpenCSV(context.Context) (io.ReadCloser, error) {
	f, err := os.Open(c.Path)
	if err != nil {
		return nil, fmt.Errorf("catalog CSV: %w", err)
	}
	return f, nil
}

// Regenerate runs Regen, or else asks the catalog owner (Request).
func (c FileCatalog) Regenerate(ctx context.Context, user string) (bool, error) {
	switch {
	case c.Regen != nil:
		return false, c.Regen(ctx)
	case c.Request != nil:
		if err := c.Request(ctx, user); err != nil {
			return false, fmt.Errorf("ask the catalog owner: %w", err)
		}
		return true, nil
	}
	return false, ErrNoRegenerate
}
