// Package console is shopstream's operations console (`shopstream
// console`, and part of `dev`): server-rendered pages, on a listener of
// their own, to see the pipeline (overview), find any event and its
// timeline, inspect and replay dead letters, and look at the catalog.
//
// Templates and the stylesheet are embedded; every page reads without
// JavaScript. Access needs a session opened with the configured token or
// user and password (anonymous only in development when neither is set),
// and every POST carries the session's CSRF token; cookies are HttpOnly
// and SameSite=Strict. What the console reads and does goes through small
// interfaces (EventStore, DeadLetters, LagReader, Catalog) that cmd wires to
// ClickHouse, the replay package and the catalog target.
package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures the console.
type Config struct {
	Addr string // listener, e.g. 127.0.0.1:9103
	// Token, or User and Password, open a session. Without either the
	// console refuses to start unless Development is set and Addr is a
	// loopback address (127.0.0.0/8, ::1, localhost), when it lets anyone
	// in.
	Token, User, Password string
	Development           bool
	// SessionKey signs session cookies and CSRF tokens (32+ characters),
	// the same on every replica. Required outside development; in
	// development an empty key is replaced by a random one (sessions then
	// end with the process).
	SessionKey string
	// SessionIdle ends a session unused this long (default 30 min);
	// SessionTTL ends any session this long after login (default 12 h).
	SessionIdle, SessionTTL time.Duration
	// SecureCookies marks every cookie Secure (browsers send it over HTTPS
	// only): set it when the console is reached over HTTPS, directly or
	// through a TLS-terminating proxy, where the request the console sees
	// is plain HTTP. Unset, a cookie is Secure only on a request that
	// arrived over TLS.
	SecureCookies bool
	Now           func() time.Time
	Log           *slog.Logger
}

// ConfigError names the setting that is missing or wrong.
type ConfigError struct{ Env, Msg string }

func (e *ConfigError) Error() string { return fmt.Sprintf("console: %s: %s", e.Env, e.Msg) }

// Validate reports a configuration the console must not start with.
func (c Config) Validate() error {
	if c.Addr == "" {
		return &ConfigError{Env: "SHOPSTREAM_CONSOLE_ADDR", Msg: "a listen address is required"}
	}
	if (c.User == "") != (c.Password == "") {
		if c.User == "" {
			return &ConfigError{Env: "SHOPSTREAM_CONSOLE_USER", Msg: "is required when SHOPSTREAM_CONSOLE_PASSWORD is set"}
		}
		return &ConfigError{Env: "SHOPSTREAM_CONSOLE_PASSWORD", Msg: "is required when SHOPSTREAM_CONSOLE_USER is set"}
	}
	if c.Token == "" && c.User == "" {
		const need = "is required (or SHOPSTREAM_CONSOLE_USER and SHOPSTREAM_CONSOLE_PASSWORD): "
		if !c.Development {
			return &ConfigError{Env: "SHOPSTREAM_CONSOLE_TOKEN", Msg: need + "the console allows no anonymous access outside development"}
		}
		if !loopbackAddr(c.Addr) {
			return &ConfigError{Env: "SHOPSTREAM_CONSOLE_TOKEN", Msg: need + "in development the console allows anonymous access only on a loopback address " +
				"(127.0.0.1, ::1, localhost), and SHOPSTREAM_CONSOLE_ADDR " + c.Addr + " is not one"}
		}
	}
	if c.Token != "" && len(c.Token) < 16 {
		return &ConfigError{Env: "SHOPSTREAM_CONSOLE_TOKEN", Msg: "must be at least 16 characters"}
	}
	if c.SessionKey == "" && !c.Development {
		return &ConfigError{Env: "SHOPSTREAM_CONSOLE_SESSION_KEY", Msg: "is required: it signs the session cookies, the same key on every console replica"}
	}
	if c.SessionKey != "" && len(c.SessionKey) < 32 {
		return &ConfigError{Env: "SHOPSTREAM_CONSOLE_SESSION_KEY", Msg: "must be at least 32 characters"}
	}
	return nil
}

// loopbackAddr reports whether the listen address addr (host:port) stays
// on this machine: 127.0.0.0/8, ::1 or localhost. An empty host (":9103")
// is every interface.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Deps is what the console reads and acts on. Events and DeadLetters are
// required; the others may be nil (their part of a page says so).
type Deps struct {
	Events      EventStore
	DeadLetters DeadLetters
	Lag         LagReader
	Metrics     prometheus.Gatherer // held events, open breakers
	Catalog     Catalog
	Messages    SentMessages // what was sent; nil: the page recomputes it
}

// Server is the console.
type Server struct {
	cfg      Config
	deps     Deps
	sessions *sessions
	limiter  *loginLimiter
	pages    *pages
	log      *slog.Logger
	handler  http.Handler
}

// New builds the console; it fails when cfg does not validate.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Events == nil || deps.DeadLetters == nil {
		return nil, errors.New("console: an event store and a dead-letter reader are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = 30 * time.Minute
	}
	key := cfg.SessionKey
	if key == "" { // development only (Validate)
		key = randomToken()
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, deps: deps, sessions: newSessions([]byte(key), cfg.Now, cfg.SessionIdle, cfg.SessionTTL),
		limiter: newLoginLimiter(cfg.Now), pages: p, log: cfg.Log.With("component", "console")}
	s.handler = s.routes()
	return s, nil
}

// Handler serves every page (tests use it through httptest).
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(securityHeaders)
	r.Get("/static/*", serveStatic)
	r.Get("/login", s.loginPage)
	r.Post("/login", s.login)
	r.Group(func(r chi.Router) {
		r.Use(s.authenticate, s.checkCSRF)
		r.Post("/logout", s.logout)
		r.Get("/", s.overview)
		r.Get("/events", s.findEvents)
		r.Get("/events/{id}", s.event)
		r.Post("/events/{id}/reveal", s.revealEvent)
		r.Post("/events/{id}/resend", s.resendEvent)
		r.Get("/dlq", s.deadLetters)
		r.Get("/dlq/{partition}/{offset}", s.deadLetter)
		r.Post("/dlq/replay", s.replay)
		r.Get("/catalog", s.catalog)
		r.Get("/catalog/download", s.catalogDownload)
		r.Post("/catalog/regenerate", s.catalogRegenerate)
	})
	return r
}

// Run serves on cfg.Addr until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("console: listen %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("console listening", "addr", ln.Addr().String())
	warmed := make(chan struct{})
	go func() { // the dead-letter index, built before anyone asks
		defer close(warmed)
		if w, ok := s.deps.DeadLetters.(interface{ Warm(context.Context) error }); ok {
			if err := w.Warm(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("console: dead-letter index not built at start; the first dead-letter page builds it", "error", err)
			}
		}
	}()
	defer func() { <-warmed }()
	select {
	case err := <-errc:
		return fmt.Errorf("console: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("console: shutdown: %w", err)
	}
	return nil
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
