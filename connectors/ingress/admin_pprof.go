//go:build pprof

package ingress

import (
	"net/http/pprof"

	"github.com/go-chi/chi/v5"
)

// A build with `-tags pprof` serves Go's profiler on the admin listener
// (deploy/bench/cost.sh -cost-profile fetches CPU profiles from it). Never
// in a production build: a profile request costs the process CPU and shows
// its internals.
func init() {
	mountProfiler = func(r chi.Router) {
		r.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		r.HandleFunc("/debug/pprof/profile", pprof.Profile)
		r.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		r.HandleFunc("/debug/pprof/trace", pprof.Trace)
		r.HandleFunc("/debug/pprof/*", pprof.Index) // named profiles: heap, goroutine, ...
	}
}
