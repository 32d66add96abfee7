package console

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopstream/shopstream/connectors/clickhouse"
	"github.com/shopstream/shopstream/connectors/kafka/replay"
	"github.com/shopstream/shopstream/pipeline"
)

func TestConfigRefusesAnonymousOutsideDev(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string // "" = valid
	}{
		{Config{Addr: ":9103"}, "SHOPSTREAM_CONSOLE_TOKEN"},
		{Config{Addr: ":9103", Token: "short"}, "SHOPSTREAM_CONSOLE_TOKEN"},
		{Config{Addr: ":9103", User: "ops"}, "SHOPSTREAM_CONSOLE_PASSWORD"},
		{Config{Addr: ":9103", Password: "pw"}, "SHOPSTREAM_CONSOLE_USER"},
		{Config{Token: testToken}, "SHOPSTREAM_CONSOLE_ADDR"},
		{Config{Addr: ":9103", Token: testToken}, "SHOPSTREAM_CONSOLE_SESSION_KEY"},
		{Config{Addr: ":9103", Token: testToken, SessionKey: "short"}, "SHOPSTREAM_CONSOLE_SESSION_KEY"},
		{Config{Addr: ":9103", Token: testToken, SessionKey: testKey}, ""},
		{Config{Addr: ":9103", User: "ops", Password: "pw", SessionKey: testKey}, ""},
		// Anonymous only in development on loopback.
		{Config{Addr: ":9103", Development: true}, "SHOPSTREAM_CONSOLE_TOKEN"},
		{Config{Addr: "0.0.0.0:9103", Development: true}, "SHOPSTREAM_CONSOLE_TOKEN"},
		{Config{Addr: "[::]:9103", Development: true}, "SHOPSTREAM_CONSOLE_TOKEN"},
		{Config{Addr: "10.0.0.5:9103", Development: true}, "SHOPSTREAM_CONSOLE_TOKEN"},
		{Config{Addr: "console.example:9103", Development: true}, "SHOPSTREAM_CONSOLE_TOKEN"},
		{Config{Addr: "localhost", Development: true}, "SHOPSTREAM_CONSOLE_TOKEN"}, // no port: not an address
		{Config{Addr: "127.0.0.1:9103"}, "SHOPSTREAM_CONSOLE_TOKEN"},               // loopback outside development
		{Config{Addr: "127.0.0.1:9103", Development: true}, ""},
		{Config{Addr: "127.1.2.3:9103", Development: true}, ""},
		{Config{Addr: "[::1]:9103", Development: true}, ""},
		{Config{Addr: "localhost:9103", Development: true}, ""},
		{Config{Addr: "LocalHost:0", Development: true}, ""},
		{Config{Addr: ":9103", Development: true, Token: testToken}, ""},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		var ce *ConfigError
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.cfg, err)
		case c.want != "" && (!errors.As(err, &ce) || ce.Env != c.want):
			t.Errorf("%+v: got %v, want an error naming %s", c.cfg, err, c.want)
		}
	}
	if _, err := New(Config{Addr: ":0"}, Deps{Events: &fakeEvents{}, DeadLetters: &fakeDLQ{}}); err == nil || !strings.Contains(err.Error(), "SHOPSTREAM_CONSOLE_TOKEN") {
		t.Fatalf("New without credentials: %v", err)
	}
}

func TestEveryPageNeedsALogin(t *testing.T) {
	h := newHarness(t, Config{Token: testToken}, Deps{})
	for _, p := range []string{"/", "/events", "/events/e1", "/dlq", "/dlq/0/1", "/catalog", "/catalog/download"} {
		code, _, hdr := h.get(p)
		if code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/login?next=") {
			t.Errorf("GET %s without a session: %d %q", p, code, hdr.Get("Location"))
		}
	}
	for _, p := range []string{"/logout", "/events/e1/reveal", "/events/e1/resend", "/dlq/replay", "/catalog/regenerate"} {
		if code, _, _ := h.post(p, url.Values{}); code != http.StatusUnauthorized {
			t.Errorf("POST %s without a session: %d", p, code)
		}
	}
	// The stylesheet is public (the login page needs it).
	if code, body, _ := h.get("/static/style.css"); code != http.StatusOK || !strings.Contains(body, "body") {
		t.Errorf("stylesheet: %d", code)
	}
}

func TestTokenLogin(t *testing.T) {
	h := newHarness(t, Config{Token: testToken}, Deps{})
	_, body, hdr := h.get("/login?next=/dlq")
	mustContain(t, body, `name="token"`, `value="/dlq"`)
	if c := hdr.Get("Set-Cookie"); !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Strict") {
		t.Errorf("login cookie %q", c)
	}
	// Wrong token: back to the login page with an error, no session.
	code, _, hdr := h.post("/login", url.Values{"csrf": {h.csrf}, "token": {"wrong-token-wrong-token"}, "next": {"/dlq"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/login?error=1") {
		t.Fatalf("wrong token: %d %q", code, hdr.Get("Location"))
	}
	if code, _, _ := h.get("/dlq"); code != http.StatusSeeOther {
		t.Fatalf("a wrong token opened a session")
	}
	_, body, _ = h.get("/login?error=1")
	mustContain(t, body, "Wrong credentials")
	// Right token: a session cookie, HttpOnly and SameSite=Strict, and the next page.
	code, _, hdr = h.post("/login", url.Values{"csrf": {h.csrf}, "token": {testToken}, "next": {"/dlq"}})
	if code != http.StatusSeeOther || hdr.Get("Location") != "/dlq" {
		t.Fatalf("login: %d %q", code, hdr.Get("Location"))
	}
	var session string
	for _, c := range hdr.Values("Set-Cookie") {
		if strings.HasPrefix(c, sessionCookie+"=") {
			session = c
		}
	}
	if !strings.Contains(session, "HttpOnly") || !strings.Contains(session, "SameSite=Strict") {
		t.Errorf("session cookie %q", session)
	}
	if code, _, _ := h.get("/dlq"); code != http.StatusOK {
		t.Fatalf("after login: %d", code)
	}
	// An open redirect is refused.
	if got := safeNext("//evil.example/x"); got != "/" {
		t.Errorf("safeNext: %q", got)
	}
	// Logout ends the session.
	if code, _, _ := h.post("/logout", h.form()); code != http.StatusSeeOther {
		t.Fatalf("logout: %d", code)
	}
	if code, _, _ := h.get("/dlq"); code != http.StatusSeeOther {
		t.Fatalf("still logged in after logout")
	}
}

func TestUserPasswordLogin(t *testing.T) {
	h := newHarness(t, Config{User: "ops", Password: "s3cret-pass"}, Deps{})
	_, body, _ := h.get("/login")
	mustContain(t, body, `name="user"`, `name="password"`)
	if strings.Contains(body, `name="token"`) {
		t.Error("token field without a token configured")
	}
	code, _, hdr := h.post("/login", url.Values{"csrf": {h.csrf}, "user": {"ops"}, "password": {"nope"}})
	if !strings.Contains(hdr.Get("Location"), "error=1") {
		t.Fatalf("wrong password: %d %q", code, hdr.Get("Location"))
	}
	code, _, hdr = h.post("/login", url.Values{"csrf": {h.csrf}, "user": {"ops"}, "password": {"s3cret-pass"}})
	if code != http.StatusSeeOther || hdr.Get("Location") != "/" {
		t.Fatalf("login: %d %q", code, hdr.Get("Location"))
	}
	if _, body, _ := h.get("/catalog"); !strings.Contains(body, `class="user">ops<`) {
		t.Error("the page does not name the user")
	}
}

func TestLoginFormNeedsItsCSRFToken(t *testing.T) {
	h := newHarness(t, Config{Token: testToken}, Deps{})
	h.get("/login")
	if code, _, _ := h.post("/login", url.Values{"token": {testToken}}); code != http.StatusForbidden {
		t.Errorf("login without csrf: %d", code)
	}
	if code, _, _ := h.post("/login", url.Values{"csrf": {"forged"}, "token": {testToken}}); code != http.StatusForbidden {
		t.Errorf("login with a forged csrf: %d", code)
	}
	if code, _, _ := h.post("/login", url.Values{"csrf": {h.csrf}, "token": {testToken}}, "Origin", "https://evil.example"); code != http.StatusForbidden {
		t.Errorf("login from another origin: %d", code)
	}
}

func TestEveryPostNeedsTheSessionCSRFToken(t *testing.T) {
	h := newHarness(t, Config{Token: testToken}, Deps{Catalog: FileCatalog{Path: filepath.Join(t.TempDir(), "catalog.csv")}})
	h.login()
	good := h.csrf
	for _, p := range []string{"/logout", "/events/e1/reveal", "/events/e1/resend", "/dlq/replay", "/catalog/regenerate"} {
		for name, form := range map[string]url.Values{"missing": {}, "wrong": {"csrf": {"x" + good}}} {
			if code, _, _ := h.post(p, form); code != http.StatusForbidden {
				t.Errorf("POST %s with a %s CSRF token: %d", p, name, code)
			}
		}
		if code, _, _ := h.post(p, url.Values{"csrf": {good}}, "Origin", "https://evil.example"); code != http.StatusForbidden {
			t.Errorf("POST %s from another origin: %d", p, code)
		}
	}
	// Another session's token is not this session's.
	other := newHarness(t, Config{Token: testToken}, Deps{})
	other.login()
	if code, _, _ := h.post("/dlq/replay", url.Values{"csrf": {other.csrf}, "scope": {"filter"}}); code != http.StatusForbidden {
		t.Errorf("another session's token: %d", code)
	}
	// The right token passes.
	if code, _, _ := h.post("/dlq/replay", h.form("scope", "filter")); code != http.StatusOK {
		t.Errorf("with the token: %d", code)
	}
}

func TestBearerTokenForScripts(t *testing.T) {
	h := newHarness(t, Config{Token: testToken}, Deps{})
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/dlq", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("bearer: %d", resp.StatusCode)
	}
	req.Header.Set("Authorization", "Bearer wrong")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong bearer: %d", resp.StatusCode)
	}
}

func TestDevelopmentWithoutCredentialsIsOpenButStillChecksCSRF(t *testing.T) {
	h := newHarness(t, Config{Development: true}, Deps{})
	code, body, _ := h.get("/dlq")
	if code != http.StatusOK || h.csrf == "" {
		t.Fatalf("dev: %d", code)
	}
	mustContain(t, body, `class="user">dev<`)
	if code, _, _ := h.post("/dlq/replay", url.Values{"scope": {"filter"}}); code != http.StatusForbidden {
		t.Errorf("dev POST without csrf: %d", code)
	}
	if code, _, _ := h.post("/dlq/replay", h.form("scope", "filter")); code != http.StatusOK {
		t.Errorf("dev POST with csrf: %d", code)
	}
}

func TestFindEventsFilters(t *testing.T) {
	h := newHarness(t, Config{Token: testToken}, Deps{})
	h.events.events = []clickhouse.EventSummary{
		{EventID: "evt-1", EventType: pipeline.OrderUpdated, EntityID: "10001", Status: "completed", Attempts: 1, ReceivedAt: testNow.Add(-time.Minute)},
		{EventID: "evt-2", EventType: pipeline.OrderUpdated, EntityID: "10002", Status: "dead", Attempts: 1, Error: "inbox: 400", ReceivedAt: testNow},
	}
	h.login()
	code, body, _ := h.get("/events?entity=10002&type=order.updated&status=dead&since=2h&until=2026-12-03T07:30:00Z")
	if code != http.StatusOK {
		t.Fatalf("search: %d\n%s", code, body)
	}
	mustContain(t, body, `href="/events/evt-2"`, "inbox: 400")
	if strings.Contains(body, "evt-1") {
		t.Error("evt-1 does not match")
	}
	q := h.events.queries[len(h.events.queries)-1]
	want := clickhouse.EventQuery{EntityID: "10002", EventType: pipeline.OrderUpdated, Status: "dead", Since: testNow.Add(-2 * time.Hour),
		Until: time.Date(2026, 12, 3, 7, 30, 0, 0, time.UTC), Limit: 100}
	if q != want {
		t.Errorf("query %+v, want %+v", q, want)
	}
	// An open search reads the last day; a datetime-local value is UTC.
	h.get("/events")
	if q := h.events.queries[len(h.events.queries)-1]; !q.Since.Equal(testNow.Add(-24 * time.Hour)) {
		t.Errorf("open search since %v", q.Since)
	}
	h.get("/events?since=2026-12-03T05:00")
	if q := h.events.queries[len(h.events.queries)-1]; !q.Since.Equal(time.Date(2026, 12, 3, 5, 0, 0, 0, time.UTC)) {
		t.Errorf("datetime-local since %v", q.Since)
	}
	for _, bad := range []string{"type=order.exploded", "status=weird", "since=yesterday", "since=1h&until=2h"} {
		if code, _, _ := h.get("/events?" + bad); code != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, code)
		}
	}
	h.events.err = errors.New("clickhouse down")
	if code, body, _ := h.get("/events?entity=1"); code != http.StatusBadGateway || !strings.Contains(body, "clickhouse down") {
		t.Errorf("store error: %d", code)
	}
}

func timelineFixture(t *testing.T, h *harness) pipeline.Event {
	ev := orderEvent(t, "evt-9", 10009, "ana@example.com")
	h.events.timelines["evt-9"] = []clickhouse.TimelineRow{
		{Status: "received", Attempt: 1, ProcessedAt: testNow.Add(-time.Hour), Topic: "evershop.order", Partition: 2, Offset: 41},
		{Status: "retrying", Attempt: 1, Error: "inbox: 503 Service Unavailable", ProcessedAt: testNow.Add(-59 * time.Minute), ProcessingMs: 12, Topic: "evershop.order", Partition: 2, Offset: 41},
		{Status: "completed", Attempt: 2, ProcessedAt: testNow.Add(-58 * time.Minute), ProcessingMs: 8, Topic: "evershop.retry.2s", Partition: 2, Offset: 7},
	}
	h.dlq.records["evershop.order/2@41"] = Source{Topic: "evershop.order", Partition: 2, Offset: 41, Event: ev, SignatureScheme: "evershop-hmac"}
	return ev
}

func TestEventTimelineMasksPersonalDataUntilRevealed(t *testing.T) {
	h := newHarness(t, Config{Token: testToken}, Deps{})
	timelineFixture(t, h)
	h.login()
	code, body, _ := h.get("/events/evt-9")
	if code != http.StatusOK {
		t.Fatalf("event: %d", code)
	}
	mustContain(t, body, "received", "attempt 1 failed, retrying", "inbox: 503 Service Unavailable", "attempt 2 delivered",
		"a•••@example.com", "A•••", "Force re-send (already delivered)", "evershop.order/2@41")
	for _, leak := range []string{"ana@example.com", "Ana Lima", "Rua 1", "Lisboa"} {
		if strings.Contains(body, leak) {
			t.Errorf("masked page shows %q", leak)
		}
	}
	if strings.Index(body, "retrying") > strings.Index(body, "delivered") {
		t.Error("timeline out of order")
	}
	// Reveal is a POST (CSRF-checked, logged) and shows the message sent.
	code, body, _ = h.post("/events/evt-9/reveal", h.form())
	if code != http.StatusOK {
		t.Fatalf("reveal: %d", code)
	}
	mustContain(t, body, "ana@example.com", "Ana Lima", "Lisboa", "Personal data revealed", `id="message"`)
	if code, _, _ := h.get("/events/unknown"); code != http.StatusNotFound {
		t.Errorf("unknown event: %d", code)
	}
}

func TestForceResendAsksFirst(t *testing.T) {
	h := newHarness(t, Config{Token: testToken}, Deps{})
	ev := timelineFixture(t, h)
	h.login()
	code, body, _ := h.post("/events/evt-9/resend", h.form())
	if code != http.StatusOK || len(h.dlq.resent) != 0 {
		t.Fatalf("first POST resent (%d, %d resent)", code, len(h.dlq.resent))
	}
	mustContain(t, body, "Force re-send event", `name="confirm" value="yes"`)
	code, body, _ = h.post("/events/evt-9/resend", h.form("confirm", "yes"))
	if code != http.StatusOK || len(h.dlq.resent) != 1 {
		t.Fatalf("confirmed POST: %d, %d resent", code, len(h.dlq.resent))
	}
	if got := h.dlq.resent[0]; got.Topic != "evershop.order" || got.Event.ID != ev.ID || got.SignatureScheme != "evershop-hmac" {
		t.Errorf("resent %+v", got)
	}
	mustContain(t, body, "was put back on evershop.order (forced)")
}

func deadLetters(t *testing.T) []replay.DeadLetter {
	mk := func(off int64, id string, orderID int, typ, errText string, attempts int, failed time.Time) replay.DeadLetter {
		ev := orderEvent(t, id, orderID, "x@example.com")
		ev.Type = typ
		return replay.DeadLetter{Partition: 0, Offset: off, Event: ev, OriginalTopic: "evershop.order", Error: errText, Attempts: attempts, FailedAt: failed}
	}
	return []replay.DeadLetter{
		mk(0, "d-1", 1, pipeline.OrderUpdated, "inbox: 400 Bad Request: unknown user", 1, testNow.Add(-3*time.Hour)),
		mk(1, "d-2", 2, pipeline.OrderUpdated, "inbox: 400 Bad Request: unknown user", 1, testNow.Add(-90*time.Minute)),
		mk(2, "d-3", 3, pipeline.OrderUpdated, "inbox: 503 after max age", 9, testNow.Add(-30*time.Minute)),
		mk(3, "d-4", 4, pipeline.OrderCreated, "invalid data", 1, testNow.Add(-20*time.Minute)),
		mk(4, "d-2", 2, pipeline.OrderUpdated, "inbox: 400 Bad Request: unknown user", 1, testNow.Add(-10*time.Minute)), // died twice
	}
}

func TestDeadLetterListFilters(t *testing.T) {
	h := newHarness(t, Config{Token: testToken}, Deps{})
	h.dlq.letters = deadLetters(t)
	h.events.delivered["d-3"] = true
	h.login()
	cases := map[string][]string{
		"":                        {"d-1", "d-2", "d-3", "d-4"},
		"type=order.created":      {"d-4"},
		"error=UNKNOWN+user":      {"d-1", "d-2"},
		"attempts=5":              {"d-3"},
		"since=2h":                {"d-2", "d-3", "d-4"},
		"since=2h&until=45m":      {"d-2"},
		"error=unknown&since=60m": {"d-2"},
	}
	for q, want := range cases {
		code, body, _ := h.get("/dlq?" + q)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", q, code)
		}
		for _, id := range []string{"d-1", "d-2", "d-3", "d-4"} {
			has := strings.Contains(body, `value="`+id+`"`)
			if has != contains(want, id) {
				t.Errorf("filter %q: %s listed=%v", q, id, has)
			}
		}
	}
	_, body, _ := h.get("/dlq?attempts=5")
	mustContain(t, body, "delivered", `<strong>1</strong> dead letters match`)
	for _, bad := range []string{"attempts=many", "type=nope", "since=soon"} {
		if code, _, _ := h.get("/dlq?" + bad); code != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, code)
		}
	}
	// Store alerts' deliveries dead-letter like events: a filter of their own.
	if code, body, _ := h.get("/dlq?type=alert.delivery"); code != http.StatusOK || !strings.Contains(body, `<option selected>alert.delivery</option>`) {
		t.Errorf("type=alert.delivery: %d, option selected: %v", code, strings.Contains(body, `<option selected>alert.delivery</option>`))
	}
	// Detail of one.
	code, body, _ := h.get("/dlq/0/2")
	if code != http.StatusOK {
		t.Fatalf("detail: %d", code)
	}
	mustContain(t, body, "inbox: 503 after max age", "Force replay", "x•••@example.com")
	if code, _, _ := h.get("/dlq/0/99"); code != http.StatusNotFound {
		t.Errorf("missing detail: %d", code)
	}
	if code, _, _ := h.get("/dlq/x/1"); code != http.StatusBadRequest {
		t.Errorf("bad detail: %d", code)
	}
}

func TestReplayDryRunThenConfirmThenResult(t *testing.T) {
	h := newHarness(t, Config{Token: testToken}, Deps{})
	h.dlq.letters = deadLetters(t)
	h.events.delivered["d-3"] = true
	h.login()
	// Dry run of everything matching the filter: d-3 delivered (skipped),
	// d-2 counted once.
	code, body, _ := h.post("/dlq/replay", h.form("scope", "filter", "step", "dryrun", "type", "order.updated"))
	if code != http.StatusOK {
		t.Fatalf("dry run: %d\n%s", code, body)
	}
	mustContain(t, body, "<strong>2</strong> dead letters would be replayed", "1 already delivered: skipped", `name="confirmed" value="yes"`, `name="type" value="order.updated"`)
	if len(h.dlq.replayed) != 0 {
		t.Fatal("a dry run replayed")
	}
	// step=replay without the confirmation is still a dry run.
	h.post("/dlq/replay", h.form("scope", "filter", "step", "replay", "type", "order.updated"))
	if len(h.dlq.replayed) != 0 {
		t.Fatal("replayed without confirmation")
	}
	code, body, _ = h.post("/dlq/replay", h.form("scope", "filter", "step", "replay", "confirmed", "yes", "type", "order.updated"))
	if code != http.StatusOK {
		t.Fatalf("replay: %d", code)
	}
	mustContain(t, body, `id="replay-succeeded">2<`, `id="replay-failed">0<`)
	if strings.Join(h.dlq.replayed, ",") != "d-1,d-2" {
		t.Errorf("replayed %v", h.dlq.replayed)
	}
	// Force includes the delivered one; a selection replays only it.
	h.dlq.replayed = nil
	_, body, _ = h.post("/dlq/replay", h.form("scope", "selection", "step", "dryrun", "id", "d-3", "force", "yes"))
	mustContain(t, body, "<strong>1</strong> dead letters would be replayed", "included (force)")
	h.post("/dlq/replay", h.form("scope", "selection", "step", "replay", "confirmed", "yes", "id", "d-3"))
	if len(h.dlq.replayed) != 0 {
		t.Fatal("a delivered event was replayed without force")
	}
	h.post("/dlq/replay", h.form("scope", "selection", "step", "replay", "confirmed", "yes", "id", "d-3", "force", "yes"))
	if strings.Join(h.dlq.replayed, ",") != "d-3" {
		t.Errorf("forced replay %v", h.dlq.replayed)
	}
	// One, and the refusals.
	h.dlq.replayed = nil
	h.post("/dlq/replay", h.form("scope", "one", "step", "replay", "confirmed", "yes", "id", "d-4"))
	if strings.Join(h.dlq.replayed, ",") != "d-4" {
		t.Errorf("replay one %v", h.dlq.replayed)
	}
	for _, f := range []url.Values{h.form("scope", "selection"), h.form("scope", "everything"), h.form("scope", "filter", "attempts", "-1")} {
		if code, _, _ := h.post("/dlq/replay", f); code != http.StatusBadRequest {
			t.Errorf("%v: %d", f, code)
		}
	}
}

type lagFunc func() map[string]map[string]int64

func (f lagFunc) Measure(context.Context) (map[string]map[string]int64, error) { return f(), nil }

func TestOverview(t *testing.T) {
	reg := prometheus.NewRegistry()
	held := prometheus.NewGauge(prometheus.GaugeOpts{Name: "shopstream_held_events"})
	reg.MustRegister(held)
	held.Set(3)
	h := newHarness(t, Config{Token: testToken}, Deps{Metrics: reg, Lag: lagFunc(func() map[string]map[string]int64 {
		return map[string]map[string]int64{"shopstream-processor": {"evershop.order": 7}, "shopstream-sink": {"evershop.events": 0}}
	})})
	minute := testNow.Add(-2 * time.Minute).Truncate(time.Minute)
	h.events.overview = clickhouse.Overview{From: testNow.Add(-time.Hour), To: testNow, TotalAccepted: 30,
		PerMinute: []clickhouse.MinuteCount{{Minute: minute, Endpoint: "evershop.order", Count: 20}, {Minute: minute, Endpoint: "evershop.product", Count: 10}},
		ByStatus:  []clickhouse.StatusCount{{Status: "completed", Count: 19}, {Status: "dead", Count: 1}},
		Terminal:  20, Completed: 19, SuccessRate: 0.95, P50Ms: 4.2, P99Ms: 88,
		CatalogSyncs: []clickhouse.CatalogSyncRow{{At: testNow.Add(-5 * time.Minute), Status: "completed", Events: 10, DurationMs: 35}}}
	h.login()
	code, body, _ := h.get("/")
	if code != http.StatusOK {
		t.Fatalf("overview: %d", code)
	}
	mustContain(t, body, `id="accepted">30<`, "95.00 %", "4.2 ms", "88.0 ms", "evershop.product", ">20<", ">10<",
		"shopstream-processor", ">7<", `<span class="st bad">open</span>`, "35.0 ms", "<meter")
	h.events.err = errors.New("clickhouse down")
	if _, body, _ := h.get("/"); !strings.Contains(body, "ClickHouse: clickhouse down") {
		t.Error("a store error is not shown")
	}
}

func TestCatalogPages(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "catalog.csv")
	regenerated := 0
	h := newHarness(t, Config{Token: testToken}, Deps{Catalog: FileCatalog{Path: path, Regen: func(context.Context) error {
		regenerated++
		return nil
	}}})
	h.login()
	if _, body, _ := h.get("/catalog"); !strings.Contains(body, "No catalog has been published yet") {
		t.Error("empty catalog page")
	}
	if err := os.WriteFile(path, []byte("id,name\n1,Mug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	meta := `{"name":"shopstream-catalog-abc","hash":"abc","rows":1,"published_at":"2026-12-03T06:59:00Z"}`
	if err := os.WriteFile(path+".json", []byte(meta), 0o600); err != nil {
		t.Fatal(err)
	}
	_, body, _ := h.get("/catalog")
	mustContain(t, body, "shopstream-catalog-abc", "<code>abc</code>", "2026-12-03 06:59:00.000Z", `href="/catalog/download"`)
	code, csv, hdr := h.get("/catalog/download")
	if code != http.StatusOK || csv != "id,name\n1,Mug\n" || !strings.Contains(hdr.Get("Content-Disposition"), "catalog.csv") {
		t.Errorf("download: %d %q %v", code, csv, hdr)
	}
	code, _, hdr = h.post("/catalog/regenerate", h.form())
	if code != http.StatusSeeOther || regenerated != 1 || hdr.Get("Location") != "/catalog?notice=regenerated" {
		t.Errorf("regenerate: %d, %d runs", code, regenerated)
	}
	noRegen := newHarness(t, Config{Token: testToken}, Deps{Catalog: FileCatalog{Path: path}})
	noRegen.login()
	if code, _, _ := noRegen.post("/catalog/regenerate", noRegen.form()); code != http.StatusNotImplemented {
		t.Errorf("regenerate without a regenerator: %d", code)
	}
}

func TestMaskKeepsShapeAndProductNames(t *testing.T) {
	body := []byte(`{"data":{"name":"Blue Mug","customer_email":"ana@example.com","billing_address":{"street":"Rua 1","zip":"1000"},"phone":"+351 91","qty":2,"items":[{"first_name":"Ana"}]}}`)
	out, n := prettyBody(body, true, false)
	if n != 4 || !strings.Contains(out, `"Blue Mug"`) || strings.Contains(out, "Rua 1") || strings.Contains(out, "+351") || !strings.Contains(out, `"qty": 2`) || strings.Contains(out, `"Ana"`) {
		t.Errorf("masked %d:\n%s", n, out)
	}
	out, _ = prettyBody(body, false, false)
	if strings.Contains(out, "Blue Mug") {
		t.Error("a person's name field is shown on a non-product event")
	}
	out, n = prettyBody(body, false, true)
	if n != 0 || !strings.Contains(out, "ana@example.com") {
		t.Errorf("revealed:\n%s", out)
	}
	if out, _ := prettyBody([]byte("not json ana@example.com"), false, false); strings.Contains(out, "ana@") {
		t.Error("a non-JSON body is shown masked-less")
	}
}

func TestScrapeMetricsReadsHeldEventsPerProcess(t *testing.T) {
	proc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("# TYPE shopstream_held_events gauge\nshopstream_held_events 4\n# TYPE shopstream_held_oldest_age_seconds gauge\nshopstream_held_oldest_age_seconds 42\n# TYPE other_total counter\nother_total 1\n"))
	}))
	defer proc.Close()
	idle := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("# TYPE shopstream_held_events gauge\nshopstream_held_events 0\n"))
	}))
	defer idle.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer down.Close()
	rows, err := heldFrom(ScrapeMetrics{URLs: []string{proc.URL + "/metrics", idle.URL + "/metrics", down.URL + "/metrics"}})
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("a process that does not answer is not reported: %v", err)
	}
	got := map[string]heldRow{}
	for _, r := range rows {
		got[r.Source] = r
	}
	if r := got[proc.URL+"/metrics"]; r.Held != 4 || r.OldestAge != 42 {
		t.Errorf("busy process %+v", r)
	}
	if r, ok := got[idle.URL+"/metrics"]; !ok || r.Held != 0 {
		t.Errorf("idle process %+v", r)
	}
	if len(rows) != 2 {
		t.Errorf("rows %+v", rows)
	}
	// The page shows the open breaker of the busy one.
	h := newHarness(t, Config{Token: testToken}, Deps{Metrics: ScrapeMetrics{URLs: []string{proc.URL + "/metrics"}}})
	h.login()
	_, body, _ := h.get("/")
	mustContain(t, body, proc.URL+"/metrics", ">4<", "42 s", `<span class="st bad">open</span>`)
}

func TestReplayByFilterChecksDeliveredInChunks(t *testing.T) {
	h := newHarness(t, Config{Token: testToken}, Deps{})
	const n = 2500
	ev := orderEvent(t, "x", 1, "x@example.com")
	for i := range n {
		e := ev
		e.ID = "bulk-" + itoa(int64(i))
		h.dlq.letters = append(h.dlq.letters, replay.DeadLetter{Offset: int64(i), Event: e, OriginalTopic: "evershop.order",
			Error: "inbox: 503", Attempts: 1, FailedAt: testNow.Add(-time.Duration(i) * time.Second)})
	}
	// A repeat of an early id after the first chunk was checked.
	h.dlq.letters = append(h.dlq.letters, h.dlq.letters[5])
	for _, id := range []string{"bulk-3", "bulk-1500", "bulk-2499"} { // one in each chunk
		h.events.delivered[id] = true
	}
	h.login()
	code, body, _ := h.post("/dlq/replay", h.form("scope", "filter", "step", "dryrun"))
	if code != http.StatusOK {
		t.Fatalf("dry run: %d\n%s", code, body)
	}
	mustContain(t, body, "<strong>2497</strong> dead letters would be replayed", "3 already delivered: skipped", "2501 dead letters match")
	seen := map[string]int{}
	for _, c := range h.events.checks {
		if len(c) == 0 || len(c) > deliveredChunk {
			t.Errorf("a check of %d ids", len(c))
		}
		for _, id := range c {
			seen[id]++
		}
	}
	if len(h.events.checks) != 3 || len(seen) != n {
		t.Errorf("%d checks covering %d ids, want 3 covering %d", len(h.events.checks), len(seen), n)
	}
	// The list page shows the newest listLimit and checks only those.
	h.events.checks = nil
	code, body, _ = h.get("/dlq")
	if code != http.StatusOK || len(h.events.checks) != 1 || len(h.events.checks[0]) > listLimit {
		t.Fatalf("list: %d, checks %d", code, len(h.events.checks))
	}
	mustContain(t, body, "<strong>2501</strong> dead letters match")
	// A failing check refuses the replay unless forced, and a forced one
	// does not check.
	h.events.err = errors.New("clickhouse down")
	h.events.checks = nil
	if code, _, _ := h.post("/dlq/replay", h.form("scope", "filter", "step", "replay", "confirmed", "yes")); code != http.StatusBadGateway || len(h.dlq.replayed) != 0 {
		t.Errorf("replay with a failing check: %d, %d replayed", code, len(h.dlq.replayed))
	}
	if len(h.events.checks) != 1 {
		t.Errorf("the read went on after a failed check: %d checks", len(h.events.checks))
	}
	h.events.checks = nil
	if code, _, _ := h.post("/dlq/replay", h.form("scope", "filter", "step", "replay", "confirmed", "yes", "force", "yes")); code != http.StatusOK || len(h.dlq.replayed) != n {
		t.Errorf("forced replay: %d, %d replayed", code, len(h.dlq.replayed))
	}
	if len(h.events.checks) != 0 {
		t.Errorf("a forced replay checked %d times", len(h.events.checks))
	}
}

func TestSafeNext(t *testing.T) {
	for _, c := range []struct{ next, want string }{
		{"", "/"},
		{"/", "/"},
		{"/dlq", "/dlq"},
		{"/dlq?type=order.updated&error=400", "/dlq?type=order.updated&error=400"},
		{"/events/evt-1#timeline", "/events/evt-1#timeline"},
		{"//evil.com", "/"},
		{"///evil.com", "/"},
		{"/\\evil.com", "/"},
		{"/dlq\\x", "/"},
		{"\\\\evil.com", "/"},
		{"/\t/evil.com", "/"}, // next=/%09/evil.com
		{"/\n/evil.com", "/"},
		{"/\r/evil.com", "/"},
		{"/\x00/evil.com", "/"},
		{"/\x1f/evil.com", "/"},
		{"/\x7f/evil.com", "/"},
		{"/dlq\t", "/"},
		{"/%2F%2Fevil.com", "/"},
		{"/%09/evil.com", "/"},
		{"/%5C/evil.com", "/"},
		{"https://evil.com", "/"},
		{"https:/evil.com", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.com", "/"},
		{"dlq", "/"},
		{" /dlq", "/"},
		{"\t//evil.com", "/"},
	} {
		if got := safeNext(c.next); got != c.want {
			t.Errorf("safeNext(%q) = %q, want %q", c.next, got, c.want)
		}
	}
}

func TestLoginWithTabInNextGoesHome(t *testing.T) {
	h := newHarness(t, Config{Token: testToken}, Deps{})
	_, body, _ := h.get("/login?next=/%09/evil.com")
	if strings.Contains(body, "evil.com") {
		t.Error("the login form carries the foreign next")
	}
	_, _, hdr := h.post("/login", url.Values{"csrf": {h.csrf}, "token": {testToken}, "next": {"/\t/evil.com"}})
	if hdr.Get("Location") != "/" {
		t.Errorf("redirected to %q", hdr.Get("Location"))
	}
}

func TestLoginNeedsUserAndPasswordTogether(t *testing.T) {
	for _, f := range []url.Values{
		{"user": {"nobody"}, "password": {"s3cret-pass"}},
		{"user": {"ops"}, "password": {"s3cret-pas"}},
		{"user": {"ops"}, "password": {""}},
		{"user": {""}, "password": {""}},
		{"token": {testToken[:len(testToken)-1]}},
		{"token": {testToken + "x"}},
		{"user": {"ops"}, "token": {"s3cret-pass"}},
	} {
		// A console per case: the back-off of earlier cases would answer
		// 429 before the credentials are compared.
		h := newHarness(t, Config{User: "ops", Password: "s3cret-pass", Token: testToken}, Deps{})
		h.get("/login")
		f.Set("csrf", h.csrf)
		if code, _, hdr := h.post("/login", f); code != http.StatusSeeOther || !strings.Contains(hdr.Get("Location"), "error=1") {
			t.Errorf("%v: not refused as wrong credentials (%d %q)", f, code, hdr.Get("Location"))
		}
	}
	if !equal("same", "same") || equal("same", "Same") || equal("", "x") || !equal("", "") {
		t.Error("equal")
	}
}
