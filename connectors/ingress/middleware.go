package ingress

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// note is what the webhook handler tells the middleware about one request:
// the endpoint, the outcome and, when known, the event or the refusal. The
// track middleware puts an empty one in the request context; the handler
// fills it in; the others read it after the handler returned.
type note struct {
	kind    string // product, order, customer, test
	outcome string // an outcome* constant
	event   pipeline.Event
	err     *RequestError
}

type noteKey struct{}

// noteOf returns the request's note; a throwaway one when the handler runs
// without the track middleware (a test calling it directly).
func noteOf(ctx context.Context) *note {
	if n, ok := ctx.Value(noteKey{}).(*note); ok {
		return n
	}
	return &note{}
}

// track attaches an empty note to the request.
func track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), noteKey{}, &note{})))
	})
}

// instrument counts requests by endpoint and outcome, times them and keeps
// the in-flight gauge.
func instrument(m *metrics, now func() time.Time) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := now()
			m.inFlight.Inc()
			defer m.inFlight.Dec()
			next.ServeHTTP(w, r)
			n := noteOf(r.Context())
			m.observe(n.kind, n.outcome, now().Sub(start).Seconds())
		})
	}
}

// logRequests writes one line per request at debug: the per-request detail
// operators ask for when they debug a sender, too costly to keep at info
// (see /metrics and the summary for the steady picture). A refusal that is
// the ingress's own fault (the event store is unavailable) is a warning.
func logRequests(log *slog.Logger, now func() time.Time) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := now()
			next.ServeHTTP(w, r)
			n := noteOf(r.Context())
			level := slog.LevelDebug
			if n.outcome == outcomeUnavailable || n.outcome == outcomeInternal {
				level = slog.LevelWarn
			}
			ctx := r.Context()
			if !log.Enabled(ctx, level) {
				return
			}
			attrs := make([]slog.Attr, 0, 9)
			attrs = append(attrs,
				slog.String("source", n.kind),
				slog.String("outcome", n.outcome),
				slog.Float64("duration_ms", float64(now().Sub(start).Microseconds())/1000),
			)
			if n.event.ID != "" {
				attrs = append(attrs, slog.String("event", n.event.Type), slog.String("event_id", n.event.ID), slog.String("entity_id", n.event.EntityID))
			}
			msg := "webhook received"
			if n.err != nil {
				msg = "webhook refused"
				attrs = append(attrs, slog.Int("status", n.err.Status), slog.String("error", n.err.Msg))
				if n.err.Err != nil {
					attrs = append(attrs, slog.String("cause", n.err.Err.Error()))
				}
			}
			log.LogAttrs(ctx, level, msg, attrs...)
		})
	}
}

// summarize feeds the periodic summary.
func summarize(s *Summary) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			s.Observe(noteOf(r.Context()).outcome)
		})
	}
}
