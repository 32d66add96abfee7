package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// inbox is the checking fake support inbox. It speaks the API that
// connectors/inbox calls (login, get-or-create conversation, post message
// with Idempotency-Key), de-duplicates by Idempotency-Key as the real
// backend does, and counts what a customer would see:
//
//   - every message POST that reached the backend (posts) and, per key, how
//     many times it was posted (a post of a key already stored is a
//     "duplicate post": harmless here, a second message on an inbox that
//     would not de-duplicate);
//   - per order, the sequence of steps stored, in arrival order.
//
// Faults: a random 5xx rate, a down window (503 for everything), and the
// next n message posts answered 429 with a given Retry-After.
type inbox struct {
	token string
	reg   *registry
	srv   *http.Server
	url   string

	mu        sync.Mutex
	errRate   float64
	down      bool
	n429      int
	retryAfer string
	users     map[string]int64
	seq       int64
	posts     int
	faults    int
	keys      map[string]int   // accepted posts per Idempotency-Key
	byOrder   map[string][]int // order id -> delivered step ranks, arrival order
	unknown   int              // keys the sender never produced
	bad       []string         // contract violations by the client
}

func newInbox(addr, token string, reg *registry) (*inbox, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("inbox listen: %w", err)
	}
	ib := &inbox{token: token, reg: reg, users: map[string]int64{}, keys: map[string]int{}, byOrder: map[string][]int{}}
	ib.srv = &http.Server{Handler: ib, ReadHeaderTimeout: 5 * time.Second}
	ib.url = "http://" + ln.Addr().String()
	go func() { _ = ib.srv.Serve(ln) }()
	return ib, nil
}

func (ib *inbox) setErrRate(r float64) { ib.with(func() { ib.errRate = r }) }
func (ib *inbox) setDown(d bool)       { ib.with(func() { ib.down = d }) }
func (ib *inbox) fail429(n int, retryAfter string) {
	ib.with(func() { ib.n429, ib.retryAfer = n, retryAfter })
}

func (ib *inbox) with(f func()) {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	f()
}

func (ib *inbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		ib.violation(w, "%s: body is not JSON: %v", r.URL.Path, err)
		return
	}
	ib.mu.Lock()
	defer ib.mu.Unlock()
	isPost := strings.HasSuffix(r.URL.Path, "/messages")
	switch {
	case ib.down:
		ib.faults++
		reply(w, http.StatusServiceUnavailable, map[string]any{"code": 503, "message": "inbox unavailable"})
		return
	case isPost && ib.n429 > 0:
		ib.n429--
		ib.faults++
		w.Header().Set("Retry-After", ib.retryAfer)
		reply(w, http.StatusTooManyRequests, map[string]any{"code": 429, "message": "slow down"})
		return
	case ib.errRate > 0 && rand.Float64() < ib.errRate:
		ib.faults++
		reply(w, http.StatusInternalServerError, map[string]any{"code": 500, "message": "injected failure"})
		return
	case r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer "+ib.token:
		ib.violationLocked(w, "%s %s: method or bearer token wrong", r.Method, r.URL.Path)
		return
	}
	switch {
	case r.URL.Path == "/api/inbox/users/login":
		email, _ := body["email"].(string)
		if !strings.Contains(email, "@") {
			ib.violationLocked(w, "login without e-mail")
			return
		}
		id, ok := ib.users[email]
		if !ok {
			ib.seq++
			id = ib.seq
			ib.users[email] = id
		}
		reply(w, http.StatusOK, map[string]any{"code": 0, "data": map[string]any{"id": id, "email": email}})
	case r.URL.Path == "/api/conversations/get-or-create":
		uid := fmt.Sprint(body["inboxUserId"])
		reply(w, http.StatusOK, map[string]any{"code": 0, "data": map[string]any{"id": "conv-" + uid}})
	case isPost:
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			ib.violationLocked(w, "message post without Idempotency-Key")
			return
		}
		ib.posts++
		ib.keys[key]++
		if ib.keys[key] == 1 {
			if ev, ok := ib.reg.get(key); ok {
				if ev.kind == "order" {
					ib.byOrder[ev.entity] = append(ib.byOrder[ev.entity], ev.rank)
				}
			} else {
				ib.unknown++
			}
		}
		reply(w, http.StatusOK, map[string]any{"code": 0, "data": map[string]any{"id": "msg-" + key}})
	default:
		ib.violationLocked(w, "no such endpoint %s", r.URL.Path)
	}
}

func (ib *inbox) violation(w http.ResponseWriter, format string, args ...any) {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	ib.violationLocked(w, format, args...)
}

func (ib *inbox) violationLocked(w http.ResponseWriter, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if len(ib.bad) < 20 {
		ib.bad = append(ib.bad, msg)
	}
	reply(w, http.StatusBadRequest, map[string]any{"code": 400, "message": msg})
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// delivered reports whether a message with this key was stored.
func (ib *inbox) delivered(e *event) bool {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	for _, k := range append([]string{e.id}, e.aliases...) {
		if ib.keys[k] > 0 {
			return true
		}
	}
	return false
}

// inboxStats is what the inbox saw for one scenario's events.
type inboxStats struct {
	posts, dupPosts, delivered, dupMessages, outOfOrder, unknown int
}

// stats counts over the keys of one scenario.
//
// Duplicate messages (customer-visible) are defined as: for one order, the
// same step (status) stored under two or more different Idempotency-Keys —
// the customer reads the same status twice even though the inbox
// de-duplicates. Steps carry distinct ranks, so a rank stored twice for an
// order is such a duplicate. A key posted twice is counted separately as a
// duplicate post: this inbox (like the real one) stores it once, an inbox
// without idempotency would show it twice.
//
// Out-of-order: a step stored after a step of the same order with a higher
// rank (later updated_at) had already been stored.
func (ib *inbox) stats(events []*event) inboxStats {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	var st inboxStats
	orders := map[string]bool{}
	for _, e := range events {
		n, stored := 0, 0
		for _, k := range append([]string{e.id}, e.aliases...) {
			n += ib.keys[k]
			if ib.keys[k] > 0 {
				stored++
			}
		}
		st.posts += n
		if n > stored {
			st.dupPosts += n - stored
		}
		if stored > 0 {
			st.delivered++
		}
		if e.kind == "order" {
			orders[e.entity] = true
		}
	}
	for o := range orders {
		seen := map[int]bool{}
		top := -1
		for _, rank := range ib.byOrder[o] {
			if seen[rank] {
				st.dupMessages++
			}
			seen[rank] = true
			if rank < top {
				st.outOfOrder++
			}
			top = max(top, rank)
		}
	}
	st.unknown = ib.unknown
	return st
}

// orderDelivered returns the ranks stored for an order.
func (ib *inbox) orderDelivered(order string) []int {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	return append([]int(nil), ib.byOrder[order]...)
}
