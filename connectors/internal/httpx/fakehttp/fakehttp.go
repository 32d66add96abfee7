// Package fakehttp is the scaffolding the connectors' in-memory fake APIs
// (cozetest, inboxtest, evershoptest) share: requests counted by route,
// failures injected on demand, a total outage, added latency, and the
// record of contract violations a test asserts empty.
//
// New returns the two sides of one state. A fake embeds Controls in its
// Server, so SetDown, SetLatency, Requests and Violations are the fake's
// own methods, and keeps the Recorder for its handlers. Both are safe for
// concurrent use; the Recorder never calls back into the fake, so handlers
// may use it while holding the fake's own lock.
package fakehttp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Failure is one injected answer.
type Failure struct {
	Path       string // the route it applies to; empty: any
	Status     int
	RetryAfter string // the Retry-After header value; empty: none
	// Code and Message are for the fake to interpret, e.g. a business error
	// code in a 200 answer, or a GraphQL error message.
	Code    int
	Message string
}

// SetRetryAfter sets f's Retry-After header on w, if it has one.
func (f *Failure) SetRetryAfter(w http.ResponseWriter) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
}

// DefaultRetryAfter is the Retry-After fakes send with a failure injected
// without one: "1" for 429, none otherwise.
func DefaultRetryAfter(status int) string {
	if status == http.StatusTooManyRequests {
		return "1"
	}
	return ""
}

type state struct {
	mu         sync.Mutex
	requests   map[string]int
	failures   []Failure // in injection order
	down       bool
	latency    time.Duration
	violations []string
}

// Controls are the knobs every fake offers its tests.
type Controls struct{ st *state }

// Recorder is the fakes' handlers' side of the same state.
type Recorder struct{ st *state }

// New returns the controls and the recorder of a new, healthy fake.
func New() (Controls, Recorder) {
	st := &state{requests: map[string]int{}}
	return Controls{st}, Recorder{st}
}

// SetDown simulates a total outage: every request gets 503 until SetDown(false).
func (c Controls) SetDown(down bool) {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	c.st.down = down
}

// SetLatency delays every answer (the request's context still cancels it).
func (c Controls) SetLatency(d time.Duration) {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	c.st.latency = d
}

// Requests counts requests by route (the URL path, unless the fake says
// otherwise), including those answered with an injected failure.
func (c Controls) Requests(route string) int {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	return c.st.requests[route]
}

// Violations lists the contract breaches seen so far.
func (c Controls) Violations() []string {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	return slices.Clone(c.st.violations)
}

// Inject queues n copies of f, after those already queued.
func (r Recorder) Inject(n int, f Failure) {
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	for range n {
		r.st.failures = append(r.st.failures, f)
	}
}

// Take counts a request to route and says how to answer it: down during an
// outage; else fail, the first queued failure for route or for any route
// (removed from the queue), or nil. The answer is to wait latency first
// (see Wait).
func (r Recorder) Take(route string) (fail *Failure, down bool, latency time.Duration) {
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	r.st.requests[route]++
	if r.st.down {
		return nil, true, r.st.latency
	}
	for i, f := range r.st.failures {
		if f.Path == "" || f.Path == route {
			r.st.failures = slices.Delete(r.st.failures, i, i+1)
			return &f, false, r.st.latency
		}
	}
	return nil, false, r.st.latency
}

// Violation records a contract breach and returns its message, for the
// answer's body.
func (r Recorder) Violation(format string, args ...any) string {
	msg := fmt.Sprintf(format, args...)
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	r.st.violations = append(r.st.violations, msg)
	return msg
}

// Wait delays an answer by d. It reports false if the client gave up
// first: then there is no one to answer.
func Wait(req *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	select {
	case <-time.After(d):
		return true
	case <-req.Context().Done():
		return false
	}
}

// HasBearer reports whether req carries "Authorization: Bearer <token>".
func HasBearer(req *http.Request, token string) bool {
	return req.Header.Get("Authorization") == "Bearer "+token
}

// IsJSON reports whether req's Content-Type is application/json.
func IsJSON(req *http.Request) bool {
	return strings.HasPrefix(req.Header.Get("Content-Type"), "application/json")
}

// DecodeObject reads req's body as a JSON object, numbers as json.Number so
// that int64 ids survive.
func DecodeObject(req *http.Request) (map[string]any, error) {
	var body map[string]any
	dec := json.NewDecoder(req.Body)
	dec.UseNumber()
	err := dec.Decode(&body)
	return body, err
}

// WriteJSON answers status with v as JSON. Headers the fake adds (a request
// id) go on w before.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
