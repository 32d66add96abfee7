package ingress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/shopstream/shopstream/pipeline"
)

var okBody = []byte(`{"code":0,"msg":"Webhook received"}` + "\n")

// Accepted is a webhook that passed every check and is durable.
type Accepted struct {
	Event pipeline.Event
	At    pipeline.Origin // where the Publisher wrote it
}

// RequestError is a refused webhook: the HTTP status, the reason (the
// "outcome" label of the metrics and summary), a message safe to return to
// the sender, and the cause for the operator's log when there is one.
type RequestError struct {
	Status int
	Reason string
	Msg    string
	Err    error
}

func (e *RequestError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s (%d): %s: %v", e.Reason, e.Status, e.Msg, e.Err)
	}
	return fmt.Sprintf("%s (%d): %s", e.Reason, e.Status, e.Msg)
}

func (e *RequestError) Unwrap() error { return e.Err }

func refuse(status int, reason, msg string) *RequestError {
	return &RequestError{Status: status, Reason: reason, Msg: msg}
}

// webhook handles one endpoint. kind "" is the development test endpoint: no
// signature, the kind comes from the event name. Metrics, logs and the
// summary are middleware reading the request's note.
func (s *Server) webhook(kind pipeline.Kind) http.HandlerFunc {
	label := string(kind)
	if kind == "" {
		label = "test"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		n := noteOf(r.Context())
		n.kind = label
		acc, err := s.accept(w, r, kind)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				re = &RequestError{Status: http.StatusInternalServerError, Reason: outcomeInternal, Msg: "internal error", Err: err}
			}
			n.outcome, n.err = re.Reason, re
			if re.Status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter.Seconds())))
			}
			writeError(w, re.Status, re.Msg)
			return
		}
		n.outcome, n.event = outcomeAccepted, acc.Event
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(okBody)
	}
}

// accept runs the checks in the order that leaks the least: media type and
// size first (cheap, no secrets involved), then the signature over the bytes
// as received, then the envelope, and publishes only what passed them all.
// It returns the accepted event or a *RequestError.
func (s *Server) accept(w http.ResponseWriter, r *http.Request, kind pipeline.Kind) (Accepted, error) {
	if !isJSON(r.Header.Get("Content-Type")) {
		return Accepted{}, refuse(http.StatusUnsupportedMediaType, outcomeUnsupported, "Content-Type must be application/json")
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return Accepted{}, refuse(http.StatusRequestEntityTooLarge, outcomeTooLarge, tooLarge(s.cfg.MaxBodyBytes))
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), r.ContentLength)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return Accepted{}, refuse(http.StatusRequestEntityTooLarge, outcomeTooLarge, tooLarge(s.cfg.MaxBodyBytes))
		}
		return Accepted{}, &RequestError{Status: http.StatusBadRequest, Reason: outcomeMalformed, Msg: "could not read the body", Err: err}
	}
	now := s.deps.Now()
	scheme := "none"
	if kind != "" {
		if scheme, err = s.deps.Verifier.Verify(r.Header, body, now); err != nil {
			return Accepted{}, refuse(http.StatusUnauthorized, outcomeUnauthorized, err.Error())
		}
	}
	var env pipeline.Envelope
	if kind == "" {
		kind, env, err = pipeline.ParseAnyEnvelope(body)
	} else {
		env, err = pipeline.ParseEnvelope(kind, body)
	}
	var ev pipeline.Event
	if err == nil {
		ev.ID, err = pipeline.EventID(scheme, r.Header, env, body)
	}
	if err != nil {
		var ee *pipeline.EnvelopeError
		if errors.As(err, &ee) && ee.Kind == pipeline.Invalid {
			return Accepted{}, refuse(http.StatusUnprocessableEntity, outcomeInvalid, ee.Msg)
		}
		return Accepted{}, refuse(http.StatusBadRequest, outcomeMalformed, err.Error())
	}
	ev.Type, ev.Kind, ev.EntityID, ev.Timestamp, ev.ReceivedAt, ev.Body, ev.Data =
		env.Event, kind, env.EntityID, env.Timestamp, now, body, env.Data

	// A sender that hangs up must not cancel a write half-way; the publisher
	// bounds the wait itself.
	at, err := s.deps.Publisher.Publish(context.WithoutCancel(r.Context()), s.deps.Topic(kind), ev, scheme)
	if err != nil {
		return Accepted{}, &RequestError{Status: http.StatusServiceUnavailable, Reason: outcomeUnavailable,
			Msg: "event store unavailable, retry later", Err: fmt.Errorf("publish %s: %w", ev.ID, err)}
	}
	return Accepted{Event: ev, At: at}, nil
}

// readBody reads the whole body in one allocation when the sender declared
// its length (io.ReadAll would start at 512 bytes and grow); the limit is
// the MaxBytesReader's.
func readBody(r io.Reader, declared int64) ([]byte, error) {
	if declared <= 0 {
		return io.ReadAll(r)
	}
	// One byte more than declared, to see the end of the body.
	buf := make([]byte, declared+1)
	n, err := io.ReadFull(r, buf)
	switch {
	case int64(n) == declared && errors.Is(err, io.ErrUnexpectedEOF):
		return buf[:n], nil // exactly as declared
	case err != nil:
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("body ended after %d of %d bytes: %w", n, declared, err)
		}
		return nil, err
	}
	// Longer than declared (net/http does not let that happen): the rest.
	rest, err := io.ReadAll(r)
	return append(buf, rest...), err
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
