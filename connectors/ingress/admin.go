package ingress

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ReadyFunc reports why the process cannot do its job right now (broker
// unreachable, topics missing), or nil.
type ReadyFunc func(ctx context.Context) error

// Admin is the operators' listener: /healthz, /readyz, /metrics. It runs on
// its own port so it can stay private while the webhook port is public.
type Admin struct {
	addr    string
	log     *slog.Logger
	handler http.Handler
}

// adminExtras mounts optional routes on the admin listener; a build with the
// pprof tag adds /debug/pprof (admin_pprof.go) for profiling under load.
var adminExtras []func(chi.Router)

// NewAdmin builds the admin listener. Readiness results are cached for a
// second so a tight probe loop cannot hammer the broker.
func NewAdmin(addr string, gatherer prometheus.Gatherer, ready ReadyFunc, log *slog.Logger) *Admin {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &readyCache{check: ready, ttl: time.Second}
	r := chi.NewRouter()
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", func(w http.ResponseWriter, req *http.Request) {
		if err := c.get(req.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	r.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	for _, mount := range adminExtras {
		mount(r)
	}
	return &Admin{addr: addr, log: log, handler: r}
}

// Handler exposes the routes, for tests.
func (a *Admin) Handler() http.Handler { return a.handler }

// Run serves until ctx ends.
func (a *Admin) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		return err
	}
	return serve(ctx, a.log, "admin", ln, a.handler, 5*time.Second)
}

type readyCache struct {
	check ReadyFunc
	ttl   time.Duration

	mu      sync.Mutex
	at      time.Time
	lastErr error
}

func (c *readyCache) get(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < c.ttl {
		return c.lastErr
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c.lastErr = c.check(ctx)
	c.at = time.Now()
	return c.lastErr
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
