//go:build pprof

package ingress

import (
	"net/http/pprof"

	"github.com/go-chi/chi/v5"
)

// A build with -tags pprof serves the Go profiler on the admin listener
// (never the public one): deploy/bench/cost.sh -cost-profile uses it.
// Release builds leave it out, so production never exposes it.
func init() {
	adminExtras = append(adminExtras, func(r chi.Router) {
		r.HandleFunc("/debug/pprof/*", pprof.Index) // the index and every named profile
		r.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		r.HandleFunc("/debug/pprof/profile", pprof.Profile)
		r.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		r.HandleFunc("/debug/pprof/trace", pprof.Trace)
	})
}
