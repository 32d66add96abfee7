package console

import (
	"sync"
	"time"
)

// Login back-off defaults: a few free failures, then a wait that doubles
// with every further failure, up to a cap.
const (
	loginFreeFailures = 3
	loginBaseWait     = time.Second
	loginMaxWait      = 15 * time.Minute
	// loginForget drops a key's failures once it has been quiet this long
	// after its last wait ended.
	loginForget = time.Hour
	// maxLoginKeys bounds each table (addresses, users).
	maxLoginKeys = 10000
)

// loginLimiter slows password and token guessing: per client address and
// per user name (the token counts as the user "token"), each failure past
// loginFreeFailures blocks further attempts for loginBaseWait doubled per
// failure, capped at loginMaxWait. An attempt while blocked is refused
// before any credential is compared; a success clears both keys.
//
// The two tables are bounded (maxLoginKeys each): a full table first
// forgets keys that are quiet, then the key whose block ends soonest, so a
// flood of fresh keys can only shorten the back-off of others, never grow
// memory. The per-user key means an attacker can keep a user waiting (at
// most loginMaxWait per failure); that is the price of slowing a guesser
// who spreads over many addresses.
type loginLimiter struct {
	now          func() time.Time
	free         int
	base, most   time.Duration
	forget       time.Duration
	max          int
	mu           sync.Mutex
	addrs, users map[string]*loginFailures
}

type loginFailures struct {
	n     int
	until time.Time // attempts are refused before this
	last  time.Time
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, free: loginFreeFailures, base: loginBaseWait, most: loginMaxWait,
		forget: loginForget, max: maxLoginKeys, addrs: map[string]*loginFailures{}, users: map[string]*loginFailures{}}
}

// attempt is one login or bearer-token attempt from addr for the user
// keys users (the token counts as the user "token"). Under one lock it
// checks the back-off, runs check (the credential comparison: constant
// time and cheap) and counts the result, so concurrent guesses cannot all
// pass the check of the back-off before any of them is counted. It returns
// how long to wait (check did not run) or whether check passed; a pass
// clears addr and users, a failure counts against each of them.
func (l *loginLimiter) attempt(addr string, users []string, check func() bool) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if w := l.waitLocked(now, addr, users); w > 0 {
		return w, false
	}
	if check() {
		delete(l.addrs, addr)
		for _, u := range users {
			delete(l.users, u)
		}
		return 0, true
	}
	l.count(l.addrs, addr, now)
	for _, u := range users {
		l.count(l.users, u, now)
	}
	return 0, false
}

// wait is how long attempts from addr for users must still wait (0: go).
func (l *loginLimiter) wait(addr string, users ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waitLocked(l.now(), addr, users)
}

func (l *loginLimiter) waitLocked(now time.Time, addr string, users []string) time.Duration {
	var w time.Duration
	fs := []*loginFailures{l.addrs[addr]}
	for _, u := range users {
		fs = append(fs, l.users[u])
	}
	for _, f := range fs {
		if f != nil && now.Before(f.until) {
			w = max(w, f.until.Sub(now))
		}
	}
	return w
}

// failed counts a failed attempt against addr and users.
func (l *loginLimiter) failed(addr string, users ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.count(l.addrs, addr, now)
	for _, u := range users {
		l.count(l.users, u, now)
	}
}

func (l *loginLimiter) count(m map[string]*loginFailures, key string, now time.Time) {
	f := m[key]
	if f != nil && now.Sub(f.until) > l.forget && now.Sub(f.last) > l.forget {
		f = nil // quiet long enough: start over
	}
	if f == nil {
		l.makeRoom(m, now)
		f = &loginFailures{}
		m[key] = f
	}
	f.n++
	f.last = now
	if over := f.n - l.free; over > 0 {
		w := l.most
		if over-1 < 32 && l.base<<(over-1) < l.most && l.base<<(over-1) > 0 {
			w = l.base << (over - 1)
		}
		f.until = now.Add(w)
	}
}

// makeRoom keeps m under l.max entries.
func (l *loginLimiter) makeRoom(m map[string]*loginFailures, now time.Time) {
	if len(m) < max(l.max, 1) {
		return
	}
	for k, f := range m {
		if now.Sub(f.until) > l.forget && now.Sub(f.last) > l.forget {
			delete(m, k)
		}
	}
	for len(m) >= max(l.max, 1) {
		var soonest string
		for k, f := range m {
			if soonest == "" || f.until.Before(m[soonest].until) {
				soonest = k
			}
		}
		delete(m, soonest)
	}
}
