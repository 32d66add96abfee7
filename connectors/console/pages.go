package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

type pages struct{ m map[string]*template.Template }

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() || t.Unix() <= 0 {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05.000Z")
	},
	"ms":  func(f float64) string { return fmt.Sprintf("%.1f ms", f) },
	"pct": func(f float64) string { return fmt.Sprintf("%.2f %%", 100*f) },
	"q":   url.QueryEscape,
	"statusClass": func(s string) string {
		switch s {
		case "completed":
			return "ok"
		case "dead":
			return "bad"
		case "retrying":
			return "warn"
		}
		return "neutral"
	},
}

func loadPages() (*pages, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{m: map[string]*template.Template{}}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", n, err)
		}
		p.m[base] = t
	}
	return p, nil
}

// render writes page name with data; the layout adds the navigation, the
// session's CSRF token and the user.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, data map[string]any) {
	s.renderStatus(w, r, http.StatusOK, name, data)
}

func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, status int, name string, data map[string]any) {
	t := s.pages.m[name]
	if t == nil {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	data["Page"] = name
	if se := sessionOf(r); se != nil {
		data["CSRF"] = se.csrf
		data["User"] = se.user
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		s.log.Error("console: render", "page", name, "error", err)
		http.Error(w, "render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w) // the client went away: nothing to do
}

// fail shows an error page; err's text is for operators (no secrets
// reach it: errors carry names and addresses, not credentials).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, what string, err error) {
	s.log.Warn("console: "+what, "path", r.URL.Path, "error", err)
	s.renderStatus(w, r, status, "error", map[string]any{"What": what, "Error": err.Error()})
}

func serveStatic(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.StripPrefix("/", http.FileServer(http.FS(staticFS))).ServeHTTP(w, r)
}
