package ingress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopstream/shopstream/pipeline"
)

// Publisher makes an accepted webhook durable. Publish returns only once the
// write is acknowledged, with where it was written; any error means "not
// durable, tell the sender to retry".
type Publisher interface {
	Publish(ctx context.Context, topic string, ev pipeline.Event, scheme string) (pipeline.Origin, error)
}

// Config of the webhook listener.
type Config struct {
	Addr            string
	MaxBodyBytes    int64         // 413 above this
	RetryAfter      time.Duration // sent with 503
	Development     bool          // enables POST /api/webhooks/test
	ShutdownTimeout time.Duration // how long in-flight requests may finish
	SummaryInterval time.Duration // how often the info-level summary is logged
}

// DefaultConfig returns the defaults of docs/contract.md.
func DefaultConfig() Config {
	return Config{Addr: ":8080", MaxBodyBytes: 1 << 20, RetryAfter: 5 * time.Second, ShutdownTimeout: 15 * time.Second, SummaryInterval: 30 * time.Second}
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("listen address is empty")
	case c.MaxBodyBytes <= 0:
		return errors.New("max body size must be positive")
	case c.RetryAfter < time.Second:
		return errors.New("retry-after must be at least 1s")
	case c.ShutdownTimeout <= 0:
		return errors.New("shutdown timeout must be positive")
	case c.SummaryInterval < time.Second:
		return errors.New("summary interval must be at least 1s")
	}
	return nil
}

// Deps are the server's collaborators.
type Deps struct {
	Verifier  *pipeline.Verifier
	Publisher Publisher
	Logger    *slog.Logger
	Registry  prometheus.Registerer // optional
	Now       func() time.Time      // optional, time.Now
	// Topic maps an entity kind to the topic its webhooks go to.
	Topic func(pipeline.Kind) string
}

// Server is the webhook listener.
type Server struct {
	cfg     Config
	deps    Deps
	metrics *metrics
	summary *Summary
	handler http.Handler
}

// New builds the server; Run starts it.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ingress: %w", err)
	}
	if deps.Verifier == nil || deps.Publisher == nil || deps.Topic == nil {
		return nil, errors.New("ingress: verifier, publisher and topic mapping are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &Server{cfg: cfg, deps: deps, metrics: newMetrics(deps.Registry), summary: NewSummary(cfg.SummaryInterval, deps.Logger)}
	r := chi.NewRouter()
	r.Group(func(r chi.Router) {
		// One concern each; track first so the others can read the note
		// the handler leaves.
		r.Use(track, instrument(s.metrics, deps.Now), logRequests(deps.Logger, deps.Now), summarize(s.summary))
		r.Post("/api/webhooks/evershop/product", s.webhook(pipeline.KindProduct))
		r.Post("/api/webhooks/evershop/order", s.webhook(pipeline.KindOrder))
		r.Post("/api/webhooks/evershop/customer", s.webhook(pipeline.KindCustomer))
		if cfg.Development {
			r.Post("/api/webhooks/test", s.webhook(""))
		}
	})
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "use POST")
	})
	s.handler = r
	return s, nil
}

// Handler exposes the routes, for tests and benchmarks.
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on the configured address until ctx ends, then stops
// accepting, lets in-flight requests finish (bounded by ShutdownTimeout) and
// returns. The caller flushes and closes the Publisher afterwards.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("ingress: listen %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened (tests pick port 0). The
// periodic summary runs alongside and logs its last counts after the
// listener drained.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	sumCtx, stopSummary := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.summary.Run(sumCtx)
	}()
	err := serve(ctx, s.deps.Logger, "ingress", ln, s.handler, s.cfg.ShutdownTimeout)
	stopSummary()
	<-done
	return err
}

// serve runs an http.Server with shopstream's timeouts until ctx ends, then
// drains it.
func serve(ctx context.Context, log *slog.Logger, name string, ln net.Listener, h http.Handler, drain time.Duration) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "listener", name, "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("%s: %w", name, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("%s: drain in-flight requests: %w", name, err)
	}
	log.Info("stopped", "listener", name)
	return nil
}
