package ingress

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestAdminProfilerOnlyInProfilingBuilds: /debug/pprof exists on the admin
// listener exactly when the binary was built with -tags pprof (cost.sh
// -cost-profile); a release build never serves it.
func TestAdminProfilerOnlyInProfilingBuilds(t *testing.T) {
	a := NewAdmin(":0", prometheus.NewRegistry(), func(context.Context) error { return nil }, nil)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		want := http.StatusNotFound
		if profilingBuild {
			want = http.StatusOK
		}
		if rec.Code != want {
			t.Errorf("GET %s = %d, want %d (profiling build: %v)", path, rec.Code, want, profilingBuild)
		}
	}
}
