// Package inboxtest is an in-memory fake of the support inbox API for tests:
// an httptest.Server that checks each request as the inbox documents it
// (method, path, Bearer token, Idempotency-Key, required body fields), keeps
// users, conversations and messages, honours Idempotency-Key the way the
// backend de-duplicates (same key: one stored message, same id), and fails
// on demand. It is safe for concurrent use.
//
// A request that breaks the contract is answered 400 with a message and
// recorded; tests assert Violations() is empty.
package inboxtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// Route names accepted by Requests and FailPathNext.
const (
	PathLogin        = "/api/inbox/users/login"
	PathConversation = "/api/conversations/get-or-create"
	PathMessages     = "/api/conversations/{id}/messages"
)

// Message is a stored inbox message.
type Message struct {
	ID             string
	ConversationID string
	InboxUserID    int64
	Email          string
	Content        string
	Role           string
	MessageType    string
	IdempotencyKey string
	CreatedAt      time.Time
}

type user struct {
	id            int64
	email, tenant string
}

type conversation struct {
	id       string
	user     *user
	messages []*Message
}

type failure struct {
	path, retryAfter string
	status           int
}

// Server is the fake. Create it with NewServer or Start.
type Server struct {
	*httptest.Server
	token string

	mu          sync.Mutex
	users       map[string]*user // by e-mail
	usersByID   map[int64]*user
	convs       map[string]*conversation
	convByUser  map[int64]*conversation
	idempotency map[string]*Message
	all         []*Message
	posts       int
	seq         int64
	failures    []failure
	lose        int
	down        bool
	latency     time.Duration
	requests    map[string]int
	violations  []string
}

// NewServer starts a fake accepting one bearer token. Close it when done.
func NewServer(token string) *Server {
	s := &Server{token: token, users: map[string]*user{}, usersByID: map[int64]*user{},
		convs: map[string]*conversation{}, convByUser: map[int64]*conversation{},
		idempotency: map[string]*Message{}, requests: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Start is NewServer with Close registered on t.Cleanup.
func Start(t testing.TB, token string) *Server {
	t.Helper()
	s := NewServer(token)
	t.Cleanup(s.Close)
	return s
}

// FailNext answers the next n requests with status (429 carries Retry-After: 1).
func (s *Server) FailNext(n, status int) { s.FailPathNext("", n, status) }

// FailPathNext is FailNext for one route only (PathLogin, PathConversation,
// PathMessages); "" matches any.
func (s *Server) FailPathNext(path string, n, status int) {
	ra := ""
	if status == http.StatusTooManyRequests {
		ra = "1"
	}
	s.FailNextRetryAfter(path, n, status, ra)
}

// FailNextRetryAfter is FailPathNext with an explicit Retry-After value.
func (s *Server) FailNextRetryAfter(path string, n, status int, retryAfter string) {
	s.with(func() {
		for range n {
			s.failures = append(s.failures, failure{path: path, status: status, retryAfter: retryAfter})
		}
	})
}

// LoseResponseNext makes the next n message POSTs take effect (stored) but
// answer 504, as when a proxy times out after the backend wrote: the client
// cannot know, retries, and Idempotency-Key must prevent a duplicate.
func (s *Server) LoseResponseNext(n int) { s.with(func() { s.lose = n }) }

// SetDown simulates a total outage: every request gets 503 until SetDown(false).
func (s *Server) SetDown(down bool) { s.with(func() { s.down = down }) }

// SetLatency delays every answer (the request's context still cancels it).
func (s *Server) SetLatency(d time.Duration) { s.with(func() { s.latency = d }) }

// SetToken rotates the accepted bearer token.
func (s *Server) SetToken(token string) { s.with(func() { s.token = token }) }

// DropConversation deletes the customer's conversation, as an operator
// might; messages posted to it afterwards get 404.
func (s *Server) DropConversation(email string) {
	s.with(func() {
		if u := s.users[email]; u != nil {
			if c := s.convByUser[u.id]; c != nil {
				delete(s.convs, c.id)
				delete(s.convByUser, u.id)
			}
		}
	})
}

// Messages returns the messages sent to a customer, oldest first.
func (s *Server) Messages(email string) []Message {
	return s.filter(func(m *Message) bool { return m.Email == email })
}

// ConversationMessages returns one conversation's messages, oldest first.
func (s *Server) ConversationMessages(conversationID string) []Message {
	return s.filter(func(m *Message) bool { return m.ConversationID == conversationID })
}

// AllMessages returns every stored message in arrival order.
func (s *Server) AllMessages() []Message { return s.filter(func(*Message) bool { return true }) }

// MessagePosts counts message POSTs that were accepted: distinct is the
// number of stored messages, total includes idempotent repeats.
func (s *Server) MessagePosts() (distinct, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.all), s.posts
}

// ConversationID returns the customer's current conversation id.
func (s *Server) ConversationID(email string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[email]; u != nil && s.convByUser[u.id] != nil {
		return s.convByUser[u.id].id, true
	}
	return "", false
}

// Requests counts requests by route (PathLogin, PathConversation, PathMessages).
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

// Violations lists the contract breaches seen so far.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

func (s *Server) filter(keep func(*Message) bool) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.all {
		if keep(m) {
			out = append(out, *m)
		}
	}
	return out
}

func (s *Server) with(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

// takeFailure pops the first injected failure for route; s.mu held.
func (s *Server) takeFailure(route string) *failure {
	for i, f := range s.failures {
		if f.path == "" || f.path == route {
			s.failures = append(s.failures[:i], s.failures[i+1:]...)
			return &f
		}
	}
	return nil
}

// violation records a contract breach; s.mu held.
func (s *Server) violation(format string, args ...any) string {
	msg := fmt.Sprintf(format, args...)
	s.violations = append(s.violations, msg)
	return msg
}
