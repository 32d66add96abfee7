package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"time"
)

// Sessions are signed cookies, not server-side state, so that any replica
// of the console accepts a session another one opened: the cookie carries
// the user, a random per-session nonce, an idle expiry and an absolute
// deadline, signed with HMAC-SHA256 under Config.SessionKey. The CSRF token
// is an HMAC of the nonce, so every replica computes the same token for the
// same session and a token of one session is worthless in another.
//
// Each request renews the idle expiry (never past the absolute deadline).
// Logout clears the cookie in the browser and revokes the nonce on the
// replica that served it. The limit, honestly: a copy of the cookie taken
// before logout stays valid on the other replicas until it expires (idle
// expiry, renewed while it is used, at most the absolute deadline).
// Changing SHOPSTREAM_CONSOLE_SESSION_KEY ends every session everywhere.

// maxRevoked bounds the revoked nonces a replica remembers; past it, the
// one that expires soonest is forgotten first.
const maxRevoked = 10000

type session struct {
	user, nonce, csrf string
	expires, deadline time.Time
	bearer            bool // Authorization: Bearer; no cookie, so no CSRF
}

type sessionClaims struct {
	User     string `json:"u"`
	Nonce    string `json:"n"`
	Expires  int64  `json:"e"` // idle expiry, unix seconds
	Deadline int64  `json:"d"` // absolute, unix seconds
}

// sessions signs and checks session cookies and remembers the nonces
// logged out on this replica until they expire.
type sessions struct {
	key           []byte
	now           func() time.Time
	idle, maxLife time.Duration

	mu      sync.Mutex
	revoked map[string]time.Time // nonce -> when its cookie expires anyway
	max     int
}

func newSessions(key []byte, now func() time.Time, idle, maxLife time.Duration) *sessions {
	return &sessions{key: key, now: now, idle: idle, maxLife: maxLife, revoked: map[string]time.Time{}, max: maxRevoked}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

func (s *sessions) csrfOf(nonce string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf", nonce))
}

// create opens a session for user.
func (s *sessions) create(user string) *session {
	now := s.now()
	return s.session(sessionClaims{User: user, Nonce: randomToken(),
		Expires: now.Add(s.idle).Unix(), Deadline: now.Add(s.maxLife).Unix()})
}

func (s *sessions) session(c sessionClaims) *session {
	return &session{user: c.User, nonce: c.Nonce, csrf: s.csrfOf(c.Nonce),
		expires: time.Unix(c.Expires, 0), deadline: time.Unix(c.Deadline, 0)}
}

// renew moves the idle expiry to now+idle, never past the deadline.
func (s *sessions) renew(se *session) *session {
	exp := s.now().Add(s.idle)
	if exp.After(se.deadline) {
		exp = se.deadline
	}
	out := *se
	out.expires = exp
	return &out
}

// encode is the cookie value: claims and signature, base64url, dot-joined.
func (s *sessions) encode(se *session) string {
	b, _ := json.Marshal(sessionClaims{User: se.user, Nonce: se.nonce, Expires: se.expires.Unix(), Deadline: se.deadline.Unix()}) // plain struct: cannot fail
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac("session", payload))
}

// get checks a cookie value: signature, expiry, deadline, revocation.
func (s *sessions) get(value string) *session {
	payload, sig, ok := strings.Cut(value, ".")
	if !ok {
		return nil
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac("session", payload)) {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	var c sessionClaims
	if json.Unmarshal(b, &c) != nil || c.Nonce == "" || c.User == "" {
		return nil
	}
	now := s.now()
	if now.Unix() >= c.Expires || now.Unix() >= c.Deadline {
		return nil
	}
	s.mu.Lock()
	_, revoked := s.revoked[c.Nonce]
	s.mu.Unlock()
	if revoked {
		return nil
	}
	return s.session(c)
}

// revoke refuses se's cookie on this replica until it expires.
func (s *sessions) revoke(se *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for n, exp := range s.revoked {
		if !now.Before(exp) {
			delete(s.revoked, n)
		}
	}
	for len(s.revoked) >= max(s.max, 1) {
		var soonest string
		for n, exp := range s.revoked {
			if soonest == "" || exp.Before(s.revoked[soonest]) {
				soonest = n
			}
		}
		delete(s.revoked, soonest)
	}
	// A renewed copy of the cookie lives at most until the deadline.
	s.revoked[se.nonce] = se.deadline
}
