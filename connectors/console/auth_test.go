package console

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// bearer GETs path with an Authorization: Bearer header.
func (h *harness) bearer(path, token string) (int, http.Header) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func TestBearerTokenGuessesBackOff(t *testing.T) {
	clock := &testClock{t: testNow}
	h := newHarness(t, Config{Token: testToken, Now: clock.Now}, Deps{})
	for i := range loginFreeFailures + 1 {
		if code, _ := h.bearer("/dlq", "wrong"); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	// Blocked now: even the right token waits, and so does the login form's.
	if code, hdr := h.bearer("/dlq", testToken); code != http.StatusTooManyRequests || hdr.Get("Retry-After") != "1" {
		t.Fatalf("blocked bearer: %d Retry-After %q", code, hdr.Get("Retry-After"))
	}
	h.get("/login")
	if code, _, _ := h.post("/login", url.Values{"csrf": {h.csrf}, "token": {testToken}}); code != http.StatusTooManyRequests {
		t.Errorf("form token during the bearer back-off: %d", code)
	}
	clock.Add(time.Second)
	if code, _ := h.bearer("/dlq", testToken); code != http.StatusOK {
		t.Fatalf("after the wait: %d", code)
	}
	if h.server.limiter.wait("127.0.0.1", tokenKey) != 0 {
		t.Error("a good token did not clear the back-off")
	}
}

func TestTokenGuessesCannotEscapeByChangingTheUser(t *testing.T) {
	h := newHarness(t, Config{User: "ops", Password: "s3cret-pass", Token: testToken}, Deps{})
	h.get("/login")
	for i := range loginFreeFailures + 1 {
		f := url.Values{"csrf": {h.csrf}, "user": {"u" + itoa(int64(i))}, "token": {"guess" + itoa(int64(i))}}
		if code, _, _ := h.post("/login", f); code != http.StatusSeeOther {
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	l := h.server.limiter
	if l.wait("10.0.0.9", tokenKey) == 0 {
		t.Error("token guesses with a fresh user each were not counted against the token")
	}
	if l.wait("10.0.0.9", userKey("u0")) != 0 {
		t.Error("one failure blocked its user")
	}
}

func TestLoginLimiterKeysAreBoundedInSize(t *testing.T) {
	h := newHarness(t, Config{User: "ops", Password: "s3cret-pass"}, Deps{})
	h.get("/login")
	long := strings.Repeat("u", 4000)
	if code, _, _ := h.post("/login", url.Values{"csrf": {h.csrf}, "user": {long}, "password": {"x"}}); code != http.StatusSeeOther {
		t.Fatalf("login: %d", code)
	}
	l := h.server.limiter
	l.mu.Lock()
	for k := range l.users {
		if len(k) > 64 {
			t.Errorf("user key of %d bytes kept", len(k))
		}
	}
	l.mu.Unlock()
	// A form far larger than a login is refused before it is read.
	code, _, _ := h.post("/login", url.Values{"csrf": {h.csrf}, "user": {strings.Repeat("u", 64<<10)}, "password": {"x"}})
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("64 KiB login form: %d", code)
	}
}

func TestConcurrentGuessesAreAllCounted(t *testing.T) {
	clock := &testClock{t: testNow}
	l := newLoginLimiter(clock.Now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	checked := 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.attempt("192.0.2.1", []string{tokenKey}, func() bool {
				mu.Lock()
				checked++
				mu.Unlock()
				return false
			})
		}()
	}
	wg.Wait()
	// Only the free failures and the one that starts the back-off are
	// compared; the rest wait.
	if checked != loginFreeFailures+1 {
		t.Errorf("%d of 50 concurrent guesses compared, want %d", checked, loginFreeFailures+1)
	}
}

// With SecureCookies (the console behind a TLS-terminating proxy sees
// plain HTTP) every cookie is Secure; without it, only over TLS.
func TestSecureCookiesSetting(t *testing.T) {
	for _, secure := range []bool{true, false} {
		s, err := New(Config{Addr: "127.0.0.1:0", Token: testToken, SessionKey: testKey, SecureCookies: secure},
			Deps{Events: &fakeEvents{}, DeadLetters: &fakeDLQ{}})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/login", nil))
		cookies := w.Result().Cookies()
		if len(cookies) == 0 {
			t.Fatal("the login page set no cookie")
		}
		for _, c := range cookies {
			if c.Secure != secure {
				t.Errorf("SecureCookies %v: cookie %s Secure %v", secure, c.Name, c.Secure)
			}
		}
	}
}
