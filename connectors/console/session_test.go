package console

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// replica is a second console with the same configuration, sharing the
// harness's cookie jar (a browser behind a load balancer).
func (h *harness) replica(cfg Config) *harness {
	h.t.Helper()
	s, err := New(cfg, Deps{Events: h.events, DeadLetters: h.dlq})
	if err != nil {
		h.t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	h.t.Cleanup(srv.Close)
	// Same host as h (cookies are per host, not per port), so the jar
	// sends h's cookies to the replica too.
	r := &harness{t: h.t, srv: srv, server: s, events: h.events, dlq: h.dlq, csrf: h.csrf,
		client: &http.Client{Jar: h.client.Jar, CheckRedirect: h.client.CheckRedirect}}
	return r
}

func TestSessionWorksOnEveryReplicaWithTheSameKey(t *testing.T) {
	cfg := Config{Addr: "127.0.0.1:0", Token: testToken, SessionKey: testKey, Now: func() time.Time { return testNow }}
	a := newHarness(t, cfg, Deps{})
	a.login()
	b := a.replica(cfg)
	if code, _, _ := b.get("/dlq"); code != http.StatusOK {
		t.Fatalf("replica b with a's session: %d", code)
	}
	// The CSRF token is the session's on every replica.
	if code, _, _ := b.post("/dlq/replay", b.form("scope", "filter")); code != http.StatusOK {
		t.Errorf("POST on b with the session's CSRF token: %d", code)
	}
	// A replica with another key does not accept the cookie.
	other := cfg
	other.SessionKey = strings.Repeat("k", 40)
	c := a.replica(other)
	if code, _, _ := c.get("/dlq"); code != http.StatusSeeOther {
		t.Errorf("replica with another key: %d", code)
	}
}

func TestSessionCookieCannotBeForgedOrStretched(t *testing.T) {
	clock := &testClock{t: testNow}
	s := newSessions([]byte(testKey), clock.Now, 30*time.Minute, 12*time.Hour)
	se := s.create("ops")
	v := s.encode(se)
	if got := s.get(v); got == nil || got.user != "ops" || got.csrf != se.csrf {
		t.Fatalf("own cookie: %+v", got)
	}
	payload, sig, _ := strings.Cut(v, ".")
	for name, bad := range map[string]string{
		"no signature":    payload,
		"other signature": payload + "." + strings.Repeat("A", len(sig)),
		"other payload":   strings.ToUpper(payload[:4]) + payload[4:] + "." + sig,
		"empty":           "",
	} {
		if s.get(bad) != nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Another key's cookie for the same claims is refused.
	if newSessions([]byte("another-key-another-key-another-key"), clock.Now, time.Hour, time.Hour).get(v) != nil {
		t.Error("cookie accepted under another key")
	}
	// Idle expiry: unused for 30 min, gone.
	clock.Add(31 * time.Minute)
	if s.get(v) != nil {
		t.Error("idle cookie accepted")
	}
	// Renewed while used, but never past the absolute deadline.
	clock.t = testNow
	cur := se
	for i := 0; i < 12*3; i++ {
		clock.Add(20 * time.Minute)
		got := s.get(s.encode(cur))
		if i < 35 && got == nil {
			t.Fatalf("renewed session gone after %d renewals", i)
		}
		if got == nil {
			break
		}
		cur = s.renew(got)
		if cur.expires.After(se.deadline) {
			t.Fatalf("renewed past the deadline: %v > %v", cur.expires, se.deadline)
		}
	}
	clock.t = se.deadline
	if s.get(s.encode(cur)) != nil {
		t.Error("session alive at its deadline")
	}
	// CSRF tokens differ between sessions.
	if s.create("ops").csrf == se.csrf {
		t.Error("two sessions share a CSRF token")
	}
}

func TestLogoutEndsTheSession(t *testing.T) {
	h := newHarness(t, Config{Token: testToken}, Deps{})
	h.login()
	u, _ := url.Parse(h.srv.URL)
	var stolen string
	for _, c := range h.client.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			stolen = c.Value
		}
	}
	code, _, hdr := h.post("/logout", h.form())
	if code != http.StatusSeeOther || hdr.Get("Location") != "/login" {
		t.Fatalf("logout: %d %q", code, hdr.Get("Location"))
	}
	if c := hdr.Values("Set-Cookie"); len(c) != 1 || !strings.Contains(c[0], "Max-Age=0") {
		t.Errorf("logout's cookies: %q, want the session cookie deleted once", c)
	}
	if code, _, _ := h.get("/dlq"); code != http.StatusSeeOther {
		t.Errorf("after logout the browser still has a session: %d", code)
	}
	// A copy of the cookie taken before logout is refused by this replica.
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: stolen, Path: "/"}})
	cl := &http.Client{Jar: jar, CheckRedirect: h.client.CheckRedirect}
	resp, err := cl.Get(h.srv.URL + "/dlq")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("stolen cookie after logout: %d", resp.StatusCode)
	}
}

func TestRevokedNoncesAreBounded(t *testing.T) {
	clock := &testClock{t: testNow}
	s := newSessions([]byte(testKey), clock.Now, time.Minute, time.Hour)
	s.max = 5
	var all []*session
	for range 12 {
		se := s.create("ops")
		all = append(all, se)
		s.revoke(se)
		clock.Add(time.Second)
	}
	if len(s.revoked) != 5 {
		t.Fatalf("%d revoked nonces kept, want 5", len(s.revoked))
	}
	// The latest revocations are the ones kept (they expire last).
	for _, se := range all[7:] {
		if _, ok := s.revoked[se.nonce]; !ok {
			t.Errorf("recent revocation forgotten")
		}
	}
	// Expired ones go at the next revocation.
	clock.Add(2 * time.Hour)
	s.revoke(s.create("ops"))
	if len(s.revoked) != 1 {
		t.Errorf("%d revoked after expiry", len(s.revoked))
	}
}

func TestAnonymousDevelopmentKeepsNoSessionState(t *testing.T) {
	h := newHarness(t, Config{Development: true}, Deps{})
	for range 50 {
		resp, err := http.Get(h.srv.URL + "/catalog") // no cookie jar: a session each
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("anonymous: %d", resp.StatusCode)
		}
	}
	h.server.sessions.mu.Lock()
	n := len(h.server.sessions.revoked)
	h.server.sessions.mu.Unlock()
	if n != 0 {
		t.Errorf("%d entries kept", n)
	}
}

func TestLoginBacksOffPerAddressAndUser(t *testing.T) {
	clock := &testClock{t: testNow}
	h := newHarness(t, Config{User: "ops", Password: "s3cret-pass", Now: clock.Now}, Deps{})
	h.get("/login")
	try := func(user, pw string) (int, http.Header) {
		t.Helper()
		code, _, hdr := h.post("/login", url.Values{"csrf": {h.csrf}, "user": {user}, "password": {pw}})
		return code, hdr
	}
	for i := range loginFreeFailures {
		if code, _ := try("ops", "nope"); code != http.StatusSeeOther {
			t.Fatalf("free failure %d: %d", i, code)
		}
	}
	// The next failure starts the back-off: 1 s, then 2 s, 4 s...
	if code, _ := try("ops", "nope"); code != http.StatusSeeOther {
		t.Fatalf("fourth failure: %d", code)
	}
	code, hdr := try("ops", "s3cret-pass") // even the right password waits
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") != "1" {
		t.Fatalf("blocked: %d Retry-After %q", code, hdr.Get("Retry-After"))
	}
	clock.Add(time.Second)
	if code, _ := try("ops", "nope"); code != http.StatusSeeOther {
		t.Fatalf("after the wait: %d", code)
	}
	if code, hdr := try("ops", "nope"); code != http.StatusTooManyRequests || hdr.Get("Retry-After") != "2" {
		t.Fatalf("doubled: %d Retry-After %q", code, hdr.Get("Retry-After"))
	}
	// The wait is capped.
	l := h.server.limiter
	for range 40 {
		clock.Add(loginMaxWait)
		l.failed("127.0.0.1", userKey("ops"))
	}
	if w := l.wait("127.0.0.1", userKey("ops")); w != loginMaxWait {
		t.Errorf("capped wait %v", w)
	}
	// Per user: another address for the same user waits too; per address:
	// another user from this address waits too; a third pair does not.
	if l.wait("10.0.0.9", userKey("ops")) == 0 || l.wait("127.0.0.1", userKey("other")) == 0 || l.wait("10.0.0.9", userKey("other")) != 0 {
		t.Error("back-off is not per address and per user")
	}
	// A success clears both.
	clock.Add(loginMaxWait)
	if code, hdr := try("ops", "s3cret-pass"); code != http.StatusSeeOther || hdr.Get("Location") != "/" {
		t.Fatalf("login after the wait: %d %q", code, hdr.Get("Location"))
	}
	if l.wait("127.0.0.1", userKey("ops")) != 0 {
		t.Error("success did not clear the back-off")
	}
}

func TestLoginLimiterMemoryIsBounded(t *testing.T) {
	clock := &testClock{t: testNow}
	l := newLoginLimiter(clock.Now)
	l.max = 100
	for i := range 1000 {
		l.failed("10.0."+itoa(int64(i/256))+"."+itoa(int64(i%256)), "user:u"+itoa(int64(i)))
	}
	if len(l.addrs) > 100 || len(l.users) > 100 {
		t.Errorf("%d addresses, %d users kept", len(l.addrs), len(l.users))
	}
	// Quiet keys are forgotten first.
	clock.Add(loginMaxWait + 2*loginForget)
	l.failed("192.0.2.1", "user:x")
	if len(l.addrs) != 1 || len(l.users) != 1 {
		t.Errorf("quiet keys kept: %d, %d", len(l.addrs), len(l.users))
	}
}
