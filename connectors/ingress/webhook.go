package ingress

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/shopstream/shopstream/pipeline"
)

var okBody = []byte(`{"code":0,"msg":"Webhook received"}` + "\n")

// webhook handles one endpoint. kind "" is the development test endpoint: no
// signature, the kind comes from the event name.
func (s *Server) webhook(kind pipeline.Kind) http.HandlerFunc {
	label := string(kind)
	if kind == "" {
		label = "test"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		start := s.deps.Now()
		s.metrics.inFlight.Inc()
		defer s.metrics.inFlight.Dec()
		outcome, status, msg, ev, at := s.accept(w, r, kind)
		elapsed := s.deps.Now().Sub(start)
		s.metrics.received.WithLabelValues(label, outcome).Inc()
		s.metrics.latency.WithLabelValues(label, outcome).Observe(elapsed.Seconds())

		attrs := []slog.Attr{
			slog.String("source", label),
			slog.String("outcome", outcome),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		}
		if ev.ID != "" {
			attrs = append(attrs, slog.String("event", ev.Type), slog.String("event_id", ev.ID), slog.String("entity_id", ev.EntityID))
		}
		if status != http.StatusOK {
			attrs = append(attrs, slog.Int("status", status), slog.String("error", msg))
			if status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter.Seconds())))
			}
			writeError(w, status, msg)
			s.deps.Logger.LogAttrs(r.Context(), slog.LevelWarn, "webhook refused", attrs...)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(okBody)
		s.deps.Logger.LogAttrs(r.Context(), slog.LevelInfo, "webhook received", attrs...)
		if s.deps.Recorder != nil {
			s.deps.Recorder.Record(pipeline.Outcome{
				EventID: ev.ID, EventType: ev.Type, EntityID: ev.EntityID,
				Status: pipeline.StatusReceived, ReceivedAt: ev.ReceivedAt, ProcessedAt: ev.ReceivedAt,
				Topic: at.Topic, Partition: at.Partition, Offset: at.Offset,
			})
		}
	}
}

// accept runs the checks in the order that leaks the least: media type and
// size first (cheap, no secrets involved), then the signature over the bytes
// as received, then the envelope, and publishes only what passed them all.
func (s *Server) accept(w http.ResponseWriter, r *http.Request, kind pipeline.Kind) (outcome string, status int, msg string, ev pipeline.Event, at pipeline.Origin) {
	if !isJSON(r.Header.Get("Content-Type")) {
		return outcomeUnsupported, http.StatusUnsupportedMediaType, "Content-Type must be application/json", ev, at
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return outcomeTooLarge, http.StatusRequestEntityTooLarge, tooLarge(s.cfg.MaxBodyBytes), ev, at
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return outcomeTooLarge, http.StatusRequestEntityTooLarge, tooLarge(s.cfg.MaxBodyBytes), ev, at
		}
		return outcomeMalformed, http.StatusBadRequest, "could not read the body", ev, at
	}
	now := s.deps.Now()
	scheme := "none"
	if kind != "" {
		if scheme, err = s.deps.Verifier.Verify(r.Header, body, now); err != nil {
			return outcomeUnauthorized, http.StatusUnauthorized, err.Error(), ev, at
		}
	}
	var env pipeline.Envelope
	if kind == "" {
		kind, env, err = pipeline.ParseAnyEnvelope(body)
	} else {
		env, err = pipeline.ParseEnvelope(kind, body)
	}
	if err == nil {
		ev.ID, err = pipeline.EventID(r.Header, body)
	}
	if err != nil {
		var ee *pipeline.EnvelopeError
		if errors.As(err, &ee) && ee.Kind == pipeline.Invalid {
			return outcomeInvalid, http.StatusUnprocessableEntity, ee.Msg, ev, at
		}
		return outcomeMalformed, http.StatusBadRequest, err.Error(), ev, at
	}
	ev.Type, ev.Kind, ev.EntityID, ev.Timestamp, ev.ReceivedAt, ev.Body, ev.Data =
		env.Event, kind, env.EntityID, env.Timestamp, now, body, env.Data

	// A sender that hangs up must not cancel a write half-way; the publisher
	// bounds the wait itself.
	at, err = s.deps.Publisher.Publish(context.WithoutCancel(r.Context()), s.deps.Topic(kind), ev, scheme)
	if err != nil {
		s.deps.Logger.Error("publish failed", "event_id", ev.ID, "error", err)
		return outcomeUnavailable, http.StatusServiceUnavailable, "event store unavailable, retry later", ev, at
	}
	return outcomeAccepted, http.StatusOK, "", ev, at
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

func tooLarge(limit int64) string {
	return "body is larger than " + strconv.FormatInt(limit, 10) + " bytes"
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body, _ := json.Marshal(struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	}{1, msg})
	_, _ = w.Write(append(body, '\n'))
}
