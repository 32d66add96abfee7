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
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shopstream/shopstream/connectors/internal/httpx/fakehttp"
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

// controls is fakehttp.Controls under an unexported name, so that embedded
// only its methods join the Server's API.
type controls = fakehttp.Controls

// Server is the fake. Create it with NewServer or Start. Besides its own
// methods it has those of fakehttp.Controls: SetDown, SetLatency, Requests
// (counted by route: PathLogin, PathConversation, PathMessages) and
// Violations.
type Server struct {
	*httptest.Server
	controls
	rec   fakehttp.Recorder
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
	lose        int
}

// NewServer starts a fake accepting one bearer token. Close it when done.
func NewServer(token string) *Server {
	s := &Server{token: token, users: map[string]*user{}, usersByID: map[int64]*user{},
		convs: map[string]*conversation{}, convByUser: map[int64]*conversation{},
		idempotency: map[string]*Message{}}
	s.controls, s.rec = fakehttp.New()
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
	s.FailNextRetryAfter(path, n, status, fakehttp.DefaultRetryAfter(status))
}

// FailNextRetryAfter is FailPathNext with an explicit Retry-After value.
func (s *Server) FailNextRetryAfter(path string, n, status int, retryAfter string) {
	s.rec.Inject(n, fakehttp.Failure{Path: path, Status: status, RetryAfter: retryAfter})
}

// LoseResponseNext makes the next n message POSTs take effect (stored) but
// answer 504, as when a proxy times out after the backend wrote: the client
// cannot know, retries, and Idempotency-Key must prevent a duplicate.
func (s *Server) LoseResponseNext(n int) { s.with(func() { s.lose = n }) }

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
