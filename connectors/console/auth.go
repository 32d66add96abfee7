package console

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	sessionCookie = "shopstream_console"
	loginCookie   = "shopstream_console_login" // CSRF token of the login form
	csrfField     = "csrf"
)

type ctxKey struct{}

func sessionOf(r *http.Request) *session {
	se, _ := r.Context().Value(ctxKey{}).(*session)
	return se
}

// equal compares secrets in constant time: SHA-256 digests, so that the
// time taken reveals neither where they differ nor the secret's length.
func equal(a, b string) bool {
	da, db := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(da[:], db[:]) == 1
}

// anonymous is development without credentials on a loopback listener
// (Validate refuses anything else without credentials).
func (s *Server) anonymous() bool {
	return s.cfg.Development && s.cfg.Token == "" && s.cfg.User == "" && loopbackAddr(s.cfg.Addr)
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.cfg.SecureCookies || r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// authenticate lets a request through with a live session cookie, or a
// bearer token (scripts; such requests carry no cookie, so they need no
// CSRF token), or anyone in anonymous development mode. Others go to the
// login page (GET) or get 401.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(sessionCookie); err == nil {
			if se := s.sessions.get(c.Value); se != nil {
				se = s.sessions.renew(se)
				s.setCookie(w, r, sessionCookie, s.sessions.encode(se), 0)
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, se)))
				return
			}
		}
		if auth := r.Header.Get("Authorization"); s.cfg.Token != "" && strings.HasPrefix(auth, "Bearer ") {
			// A bearer guess is a token guess: the same back-off as the form.
			wait, ok := s.limiter.attempt(clientAddr(r), []string{tokenKey}, func() bool {
				return equal(strings.TrimPrefix(auth, "Bearer "), s.cfg.Token)
			})
			switch {
			case wait > 0:
				s.tooMany(w, r, wait)
			case ok:
				se := &session{user: "token", bearer: true} // no cookie: CSRF does not apply
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, se)))
			default:
				s.log.Warn("console: bearer token refused", "remote", r.RemoteAddr)
				http.Error(w, "invalid token", http.StatusUnauthorized)
			}
			return
		}
		if s.anonymous() {
			se := s.sessions.create("dev")
			s.setCookie(w, r, sessionCookie, s.sessions.encode(se), 0)
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, se)))
			return
		}
		if r.Method == http.MethodGet {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		http.Error(w, "not logged in", http.StatusUnauthorized)
	})
}

// checkCSRF refuses a POST of a cookie session whose form does not carry
// the session's CSRF token, or that comes from another origin.
func (s *Server) checkCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		se := sessionOf(r)
		if se.bearer { // bearer token, no cookie
			next.ServeHTTP(w, r)
			return
		}
		if !sameOrigin(r) || !equal(r.PostFormValue(csrfField), se.csrf) {
			s.log.Warn("console: request refused: CSRF token missing or wrong", "path", r.URL.Path, "user", se.user)
			http.Error(w, "invalid or missing CSRF token", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin checks Origin (or Referer) when the browser sent one.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		o = r.Header.Get("Referer")
	}
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// safeNext is where to go after logging in: next when it is a path on this
// console, else "/". It refuses control characters and backslashes
// anywhere (browsers drop tabs and newlines and read a backslash as "/", so
// "/\t/evil.com" would go to //evil.com), a path that does not start with
// exactly one "/", and anything with a scheme or host.
func safeNext(next string) string {
	if !localPath(next) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !localPath(u.Path) {
		return "/"
	}
	return next
}

// localPath reports whether p starts with a single "/" and holds no
// control character or backslash.
func localPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	tok := randomToken()
	s.setCookie(w, r, loginCookie, tok, 600)
	s.render(w, r, "login", map[string]any{"LoginCSRF": tok, "Next": safeNext(r.URL.Query().Get("next")),
		"UserLogin": s.cfg.User != "", "TokenLogin": s.cfg.Token != "", "Error": r.URL.Query().Get("error")})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "login form too large or malformed", http.StatusRequestEntityTooLarge)
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameOrigin(r) || !equal(r.PostFormValue(csrfField), c.Value) {
		http.Error(w, "invalid or missing CSRF token", http.StatusForbidden)
		return
	}
	// Every comparison runs, whatever the others found: the time taken
	// tells neither whether the user exists nor how long the secrets are.
	user := ""
	wait, ok := s.limiter.attempt(clientAddr(r), loginKeys(r), func() bool {
		tokenOK := equal(r.PostFormValue("token"), s.cfg.Token)
		userOK := equal(r.PostFormValue("user"), s.cfg.User)
		passwordOK := equal(r.PostFormValue("password"), s.cfg.Password)
		switch {
		case s.cfg.Token != "" && r.PostFormValue("token") != "" && tokenOK:
			user = "token"
		case s.cfg.User != "" && userOK && passwordOK:
			user = s.cfg.User
		case s.anonymous():
			user = "dev"
		}
		return user != ""
	})
	if wait > 0 {
		s.tooMany(w, r, wait)
		return
	}
	if !ok {
		s.log.Warn("console: login refused", "remote", r.RemoteAddr)
		http.Redirect(w, r, "/login?error=1&next="+url.QueryEscape(safeNext(r.PostFormValue("next"))), http.StatusSeeOther)
		return
	}
	se := s.sessions.create(user)
	s.setCookie(w, r, loginCookie, "", -1)
	s.setCookie(w, r, sessionCookie, s.sessions.encode(se), 0)
	s.log.Info("console: login", "user", user, "remote", r.RemoteAddr)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if se := sessionOf(r); se != nil && !se.bearer {
		s.sessions.revoke(se)
	}
	w.Header().Del("Set-Cookie") // authenticate's renewal of the cookie being ended
	s.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// clientAddr is the client's address as the listener sees it (behind a
// reverse proxy that is the proxy's: X-Forwarded-For is not trusted).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// tokenKey is the limiter's user key of token attempts (form and bearer).
const tokenKey = "token"

// maxLoginForm bounds the login form's body: csrf, user, password, token
// and next fit in far less.
const maxLoginForm = 8 << 10

// loginKeys are whom a login attempt is for: "token" when it posts a
// token, the user's key when it posts a user name (both when both), and
// "token" when it posts neither.
func loginKeys(r *http.Request) []string {
	var keys []string
	if r.PostFormValue("token") != "" {
		keys = append(keys, tokenKey)
	}
	if u := r.PostFormValue("user"); u != "" {
		keys = append(keys, userKey(u))
	}
	if len(keys) == 0 {
		keys = append(keys, tokenKey)
	}
	return keys
}

// userKey is the limiter's key of a posted user name: fixed size, whatever
// was posted.
func userKey(user string) string {
	sum := sha256.Sum256([]byte(user))
	return "user:" + hex.EncodeToString(sum[:16])
}

// tooMany answers an attempt made during its back-off.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	s.log.Warn("console: login refused: too many failures", "remote", r.RemoteAddr, "retry_after", wait.String())
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	http.Error(w, "too many failed logins; try again later", http.StatusTooManyRequests)
}
