// Package evershoptest is an in-memory fake of EverShop's admin API for
// tests: an httptest.Server serving POST /api/user/tokens,
// /api/user/token/refresh and /api/admin/graphql (the products query, paged
// by page/limit filters, sorted product_id DESC, like EverShop). It checks
// each request as EverShop expects it, issues JWT-shaped tokens with an exp
// claim, and can expire tokens, rate-limit with 429 + Retry-After, answer
// GraphQL errors, fail or go down on demand. It is safe for concurrent use.
//
// A request that breaks the contract is answered 400 (401 for a missing
// bearer token) with a message and recorded; tests assert Violations() is
// empty. The fake returns stored products whole, whatever fields the query
// selects.
package evershoptest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shopstream/shopstream/connectors/internal/httpx/fakehttp"
)

// Endpoint paths.
const (
	PathLogin   = "/api/user/tokens"
	PathRefresh = "/api/user/token/refresh"
	PathGraphQL = "/api/admin/graphql"
)

// DefaultLimit is the page size EverShop uses when no limit filter is given.
const DefaultLimit = 20

type token struct {
	kind    string // "access" or "refresh"
	exp     time.Time
	revoked bool
}

// controls is fakehttp.Controls under an unexported name, so that embedded
// only its methods join the Server's API.
type controls = fakehttp.Controls

// Server is the fake. Create it with NewServer or Start. Besides its own
// methods it has those of fakehttp.Controls: SetDown, SetLatency, Requests
// (counted by path, including failed requests) and Violations.
type Server struct {
	*httptest.Server
	controls
	rec             fakehttp.Recorder // a failure with a Message answers it as a GraphQL error
	email, password string

	mu          sync.Mutex
	products    map[int64]json.RawMessage
	tokens      map[string]*token
	seq         int
	accessTTL   time.Duration
	refreshTTL  time.Duration
	pagesServed []string // "page/limit" of each answered products query
}

// NewServer starts a fake store with one admin account. Close it when done.
func NewServer(email, password string) *Server {
	s := &Server{email: email, password: password, products: map[int64]json.RawMessage{},
		tokens: map[string]*token{}, accessTTL: 15 * time.Minute, refreshTTL: 24 * time.Hour}
	s.controls, s.rec = fakehttp.New()
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Start is NewServer with Close registered on t.Cleanup.
func Start(t testing.TB, email, password string) *Server {
	t.Helper()
	s := NewServer(email, password)
	t.Cleanup(s.Close)
	return s
}

// Product builds an item shaped like the fixture's products query answer.
func Product(id int64, sku, name string, price float64) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"productId": id, "uuid": fmt.Sprintf("00000000-0000-4000-8000-%012d", id), "sku": sku, "name": name,
		"status": 1, "url": "/" + sku, "description": nil, "variantGroupId": nil,
		"price":     map[string]any{"regular": map[string]any{"value": price, "currency": "USD"}},
		"inventory": map[string]any{"qty": 10, "isInStock": true},
	})
	return b
}

// SetProducts replaces the catalog. Each item needs a numeric productId;
// anything else is a bug in the test and panics.
func (s *Server) SetProducts(items []json.RawMessage) {
	s.with(func() {
		s.products = map[int64]json.RawMessage{}
		for _, it := range items {
			s.products[productID(it)] = slices.Clone(it)
		}
	})
}

// Upsert adds or replaces one product (by productId).
func (s *Server) Upsert(item json.RawMessage) {
	s.with(func() { s.products[productID(item)] = slices.Clone(item) })
}

// Delete removes a product; it reports whether it existed.
func (s *Server) Delete(id int64) bool {
	var ok bool
	s.with(func() {
		_, ok = s.products[id]
		delete(s.products, id)
	})
	return ok
}

// Products returns the catalog in EverShop's order (product_id DESC).
func (s *Server) Products() []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sorted()
}

// SetTokenTTL sets the lifetime (exp claim) of access tokens issued from now on.
func (s *Server) SetTokenTTL(d time.Duration) { s.with(func() { s.accessTTL = d }) }

// ExpireTokens makes every access token issued so far fail with 401.
func (s *Server) ExpireTokens() { s.revoke("access") }

// ExpireRefreshTokens makes every refresh token issued so far fail with 401.
func (s *Server) ExpireRefreshTokens() { s.revoke("refresh") }

// RateLimitNext answers the next n requests 429 with Retry-After in whole
// seconds (rounded up; 0 sends "0").
func (s *Server) RateLimitNext(n int, retryAfter time.Duration) {
	secs := int((retryAfter + time.Second - 1) / time.Second)
	s.FailPathNext("", n, http.StatusTooManyRequests, fmt.Sprint(secs))
}

// FailNext answers the next n requests with status.
func (s *Server) FailNext(n, status int) { s.FailPathNext("", n, status, "") }

// FailPathNext answers the next n requests to path ("" = any) with status
// and, if set, a Retry-After header.
func (s *Server) FailPathNext(path string, n, status int, retryAfter string) {
	s.rec.Inject(n, fakehttp.Failure{Path: path, Status: status, RetryAfter: retryAfter})
}

// GraphQLErrorNext answers the next n GraphQL requests 200 with an errors array.
func (s *Server) GraphQLErrorNext(n int, message string) {
	s.rec.Inject(n, fakehttp.Failure{Path: PathGraphQL, Status: http.StatusOK, Message: message})
}

// PagesServed lists "page/limit" for each products page answered, in order.
func (s *Server) PagesServed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.pagesServed)
}

func (s *Server) revoke(kind string) {
	s.with(func() {
		for _, t := range s.tokens {
			if t.kind == kind {
				t.revoked = true
			}
		}
	})
}

func (s *Server) with(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

func productID(item json.RawMessage) int64 {
	var p struct {
		ProductID *int64 `json:"productId"`
	}
	if err := json.Unmarshal(item, &p); err != nil || p.ProductID == nil {
		panic(fmt.Sprintf("evershoptest: product without a numeric productId: %s", item))
	}
	return *p.ProductID
}
