package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/shopstream/shopstream/internal/clock"
	"github.com/shopstream/shopstream/pipeline"
)

// event is one webhook the sender owns, with what the checks need to know
// about it. The event id is the Standard Webhooks webhook-id, which is
// signed, so it is the pipeline's event id before and after issue 8's
// "ids from signed bytes only" change, and the inbox's Idempotency-Key.
type event struct {
	id, kind, typ, entity string
	scenario              string
	aliases               []string // other ids the pipeline may give it (see resendCaptured)
	rank                  int      // order: step index by updated_at (0 = created); product: version
	message               bool     // the customer should get a message for it
	body                  []byte

	mu       sync.Mutex
	accepted bool
	attempts int
}

func (e *event) isAccepted() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.accepted
}

// registry maps event ids to events for the inbox.
type registry struct {
	mu sync.Mutex
	m  map[string]*event
}

func (r *registry) add(e *event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[e.id] = e
}

func (r *registry) get(id string) (*event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.m[id]
	return e, ok
}

// orderSteps are the statuses an order moves through, in updated_at order.
var orderSteps = []string{"new", "processing", "shipped", "delivered"}

// workload builds a scenario's events as rounds: round r holds step r of
// every order (and a share of customers and products), so a store never
// sends a step before the previous step of the same order was accepted.
// ids are unique per run (tag) and scenario (scn).
func workload(tag string, scn, orders, customers, products int, base int64, t0 time.Time) [][]*event {
	rounds := make([][]*event, len(orderSteps))
	now := time.Now().UTC().Format(time.RFC3339)
	mk := func(kind, typ string, entity int64, rank int, msg bool, data map[string]any) *event {
		id := fmt.Sprintf("chaos-%s-%d-%s-%d-%d", tag, scn, kind, entity, rank)
		body, _ := json.Marshal(map[string]any{"event": typ, "timestamp": now, "data": data})
		return &event{id: id, kind: kind, typ: typ, entity: strconv.FormatInt(entity, 10), rank: rank, message: msg, body: body}
	}
	for i := range orders {
		oid := base + int64(i)
		for r, st := range orderSteps {
			data := map[string]any{
				"order_id": oid, "order_number": fmt.Sprintf("CH%d", oid),
				"customer_email": fmt.Sprintf("o%d@chaos.test", oid), "customer_full_name": "Chaos Buyer",
				"status": st, "updated_at": t0.Add(time.Duration(r) * time.Second).Format(time.RFC3339),
				"currency": "USD", "grand_total": "49.80",
			}
			typ := "order.updated"
			if r == 0 {
				typ = "order.created"
			} else {
				data["previous_status"] = orderSteps[r-1]
			}
			rounds[r] = append(rounds[r], mk("order", typ, oid, r, true, data))
		}
	}
	for i := range customers {
		cid := base + 50000 + int64(i)
		e := mk("customer", "customer.created", cid, 0, true, map[string]any{
			"customer_id": cid, "email": fmt.Sprintf("c%d@chaos.test", cid), "full_name": "Chaos Customer"})
		rounds[i%2] = append(rounds[i%2], e)
	}
	for i := range products {
		pid := base + 80000 + int64(i)
		for v := 1; v <= 2; v++ {
			typ := "product.created"
			if v == 2 {
				typ = "product.updated"
			}
			rounds[v+1] = append(rounds[v+1], mk("product", typ, pid, v, false, productData(pid, v, t0)))
		}
	}
	return rounds
}

func productData(pid int64, version int, t0 time.Time) map[string]any {
	return map[string]any{
		"id": pid, "sku": fmt.Sprintf("CH-%d", pid), "name": productName(pid, version),
		"description": "chaos product", "price": fmt.Sprintf("%d.50", 10+version), "qty": 5,
		"updated_at": t0.Add(time.Duration(version) * time.Second).Format(time.RFC3339),
	}
}

func productName(pid int64, version int) string {
	return fmt.Sprintf("Chaos %d version %d", pid, version)
}

// attempt is one POST as the sender saw it (for the broker-stop check).
type attempt struct {
	start, end time.Time
	status     int // 0: no HTTP answer
}

// sender posts signed webhooks and retries like a store: on a connection
// error, a timeout or a 5xx it waits (Retry-After, at most 5 s) and sends
// the same body with the same webhook-id again, until giveUp.
type sender struct {
	url     string
	secret  pipeline.Secret
	client  *http.Client
	workers int
	giveUp  time.Duration
	// captured: order.created goes out as a captured x-evershop-signature
	// request posted three times (see captured).
	captured bool

	mu       sync.Mutex
	attempts []attempt
	rejected []string
}

func (s *sender) run(ctx context.Context, rounds [][]*event, perSecond float64) {
	var total int
	for _, r := range rounds {
		total += len(r)
	}
	gap := time.Duration(0)
	if perSecond > 0 {
		gap = time.Duration(float64(time.Second) / perSecond)
	}
	for _, round := range rounds {
		ch := make(chan *event)
		var wg sync.WaitGroup
		for range s.workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for e := range ch {
					if s.captured && e.typ == "order.created" {
						s.resendCaptured(ctx, e)
						continue
					}
					s.post(ctx, e)
				}
			}()
		}
		// Pacing of the offered load (not a wait on the system): event i
		// of a round is offered at start + i x gap, so the rate holds even
		// when a send or the scheduler is slow.
		start := time.Now()
		for i, e := range round {
			if ctx.Err() != nil {
				break // interrupted: offer nothing more
			}
			if gap > 0 {
				if d := time.Until(start.Add(time.Duration(i) * gap)); d > 0 {
					time.Sleep(d)
				}
			}
			select {
			case ch <- e:
			case <-ctx.Done():
			}
		}
		close(ch)
		wg.Wait()
	}
}

func (s *sender) post(ctx context.Context, e *event) {
	deadline := time.Now().Add(s.giveUp)
	backoff := clock.NewBackoff(250*time.Millisecond, 5*time.Second)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		status, retryAfter, err := s.once(ctx, e)
		e.mu.Lock()
		e.attempts++
		e.mu.Unlock()
		switch {
		case err == nil && status/100 == 2:
			e.mu.Lock()
			e.accepted = true
			e.mu.Unlock()
			return
		case err == nil && status < 500 && status != http.StatusTooManyRequests:
			s.mu.Lock()
			s.rejected = append(s.rejected, fmt.Sprintf("%s: HTTP %d", e.id, status))
			s.mu.Unlock()
			return
		}
		wait := backoff.Next()
		if retryAfter > 0 {
			wait = min(retryAfter, 5*time.Second)
		}
		_ = clock.Sleep(ctx, wait) // the loop checks ctx
	}
}

func (s *sender) once(ctx context.Context, e *event) (int, time.Duration, error) {
	return s.do(ctx, e, func(h http.Header, now time.Time) {
		h.Set(pipeline.HeaderWebhookID, e.id)
		h.Set(pipeline.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
		h.Set(pipeline.HeaderWebhookSignature, pipeline.SignStandard(s.secret, e.id, now, e.body))
	})
}

// captured are the re-posts of a captured x-evershop-signature request
// (issue 8, item 4): the same signed bytes with a fresh unsigned
// x-evershop-webhook-id, and once more with an added unsigned webhook-id.
// Each must get 200 and none may produce a second message.
var captured = []func(e *event, h http.Header){
	func(e *event, h http.Header) { h.Set(pipeline.HeaderEverShopWebhookID, e.id) },
	func(e *event, h http.Header) { h.Set(pipeline.HeaderEverShopWebhookID, e.id+"~2") },
	func(e *event, h http.Header) {
		h.Set(pipeline.HeaderEverShopWebhookID, e.id+"~3")
		h.Set(pipeline.HeaderWebhookID, e.id+"~3")
	},
}

// resendCaptured posts e with x-evershop-signature in every captured form.
// The aliases are every id the ingress could derive (the headers today,
// SHA-256 of the body after issue 8), so the inbox and ClickHouse checks
// find the event under whichever one it got.
func (s *sender) resendCaptured(ctx context.Context, e *event) {
	e.aliases = []string{e.id + "~2", e.id + "~3", pipeline.BodyEventID(e.body)}
	for _, variant := range captured {
		status, _, err := s.do(ctx, e, func(h http.Header, _ time.Time) {
			h.Set(pipeline.HeaderEverShopSignature, pipeline.SignEverShop(s.secret, e.body))
			variant(e, h)
		})
		e.mu.Lock()
		e.attempts++
		if err == nil && status/100 == 2 {
			e.accepted = true
		}
		e.mu.Unlock()
		if err != nil || status/100 != 2 {
			s.mu.Lock()
			s.rejected = append(s.rejected, fmt.Sprintf("%s (captured re-post): HTTP %d %v", e.id, status, err))
			s.mu.Unlock()
		}
	}
}

func (s *sender) do(ctx context.Context, e *event, sign func(h http.Header, now time.Time)) (int, time.Duration, error) {
	now := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/api/webhooks/evershop/"+e.kind, bytes.NewReader(e.body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	sign(req.Header, now)
	resp, err := s.client.Do(req)
	a := attempt{start: now, end: time.Now()}
	if err == nil {
		a.status = resp.StatusCode
	}
	s.mu.Lock()
	s.attempts = append(s.attempts, a)
	s.mu.Unlock()
	if err != nil {
		return 0, 0, fmt.Errorf("post %s: %w", e.id, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	var ra time.Duration
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		ra = time.Duration(secs) * time.Second
	}
	return resp.StatusCode, ra, nil
}

// attemptsBetween returns the attempts that started at or after from and
// ended before to.
func (s *sender) attemptsBetween(from, to time.Time) []attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []attempt
	for _, a := range s.attempts {
		if !a.start.Before(from) && a.end.Before(to) {
			out = append(out, a)
		}
	}
	return out
}

func (s *sender) resetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts, s.rejected = nil, nil
}

var errTimeout = errors.New("timed out")

// alias makes id another name of e for the inbox's lookups.
func (r *registry) alias(id string, e *event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[id] = e
}
