package console

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopstream/shopstream/connectors/clickhouse"
	"github.com/shopstream/shopstream/connectors/kafka/replay"
	"github.com/shopstream/shopstream/pipeline"
)

var testNow = time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)

const testToken = "console-test-token-0123456789"

const testKey = "console-test-session-key-0123456789abcdef"

type fakeEvents struct {
	mu        sync.Mutex
	queries   []clickhouse.EventQuery
	events    []clickhouse.EventSummary
	timelines map[string][]clickhouse.TimelineRow
	delivered map[string]bool
	overview  clickhouse.Overview
	err       error
	checks    [][]string // the ids of every Delivered call
}

func (f *fakeEvents) FindEvents(_ context.Context, q clickhouse.EventQuery) ([]clickhouse.EventSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	var out []clickhouse.EventSummary
	for _, e := range f.events {
		if (q.EntityID == "" || e.EntityID == q.EntityID) && (q.EventType == "" || e.EventType == q.EventType) &&
			(q.Status == "" || e.Status == q.Status) && (q.EventID == "" || e.EventID == q.EventID) {
			out = append(out, e)
		}
	}
	return out, f.err
}

func (f *fakeEvents) Timeline(_ context.Context, id string) ([]clickhouse.TimelineRow, error) {
	return f.timelines[id], f.err
}

func (f *fakeEvents) Delivered(_ context.Context, ids []string) (map[string]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks = append(f.checks, append([]string(nil), ids...))
	out := map[string]bool{}
	for _, id := range ids {
		if f.delivered[id] {
			out[id] = true
		}
	}
	return out, f.err
}

func (f *fakeEvents) LoadOverview(context.Context, time.Time) (clickhouse.Overview, error) {
	return f.overview, f.err
}

// fakeDLQ keeps dead letters and accepted records in memory; Replay applies
// the same filter, skip and once-per-event rules as replay.Run.
type fakeDLQ struct {
	mu       sync.Mutex
	letters  []replay.DeadLetter
	records  map[string]Source // topic/partition/offset -> record
	replayed []string          // event ids produced
	resent   []Source
	dryRuns  int
}

func (f *fakeDLQ) List(_ context.Context, flt pipeline.ReplayFilter, limit int) (replay.Listing, error) {
	out := replay.Listing{Total: int64(len(f.letters))}
	for _, d := range f.letters {
		if flt.MatchDeadLetter(d.Facts()) {
			out.Letters = append(out.Letters, d)
		}
	}
	out.Matched = len(out.Letters)
	if limit > 0 && len(out.Letters) > limit {
		out.Letters = out.Letters[:limit]
	}
	return out, nil
}

func (f *fakeDLQ) Each(_ context.Context, flt pipeline.ReplayFilter, fn func(replay.DeadLetter) error) error {
	for _, d := range f.letters {
		if flt.MatchDeadLetter(d.Facts()) {
			if err := fn(d); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *fakeDLQ) Letter(_ context.Context, p int32, o int64) (replay.DeadLetter, error) {
	for _, d := range f.letters {
		if d.Partition == p && d.Offset == o {
			return d, nil
		}
	}
	return replay.DeadLetter{}, errors.New("no such dead letter")
}

func (f *fakeDLQ) Replay(_ context.Context, flt pipeline.ReplayFilter, dryRun bool, skip func(pipeline.Event) bool) (replay.Progress, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	prog := replay.Progress{Total: int64(len(f.letters))}
	done := map[string]bool{}
	for _, d := range f.letters {
		prog.Seen++
		switch {
		case !flt.MatchDeadLetter(d.Facts()) || done[d.Event.ID]:
			prog.Skipped++
		case skip(d.Event):
			prog.Delivered++
		default:
			done[d.Event.ID] = true
			prog.Replayed++
			if !dryRun {
				f.replayed = append(f.replayed, d.Event.ID)
			}
		}
	}
	if dryRun {
		f.dryRuns++
	}
	return prog, nil
}

func (f *fakeDLQ) Record(_ context.Context, topic string, p int32, o int64) (Source, error) {
	src, ok := f.records[topic+"/"+itoa(int64(p))+"@"+itoa(o)]
	if !ok {
		return Source{}, errors.New("not in the log")
	}
	return src, nil
}

func (f *fakeDLQ) Resend(_ context.Context, src Source) error {
	f.mu.Lock()
	f.resent = append(f.resent, src)
	f.mu.Unlock()
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func orderBody(orderID int, email, status string) []byte {
	return []byte(`{"event":"order.updated","timestamp":"2026-12-03T06:00:00Z","data":{"order_id":` + itoa(int64(orderID)) +
		`,"order_number":"` + itoa(int64(orderID)) + `","customer_email":"` + email + `","customer_full_name":"Ana Lima","status":"` + status +
		`","previous_status":"new","shipping_address":{"street":"Rua 1","city":"Lisboa"}}}`)
}

func orderEvent(t *testing.T, id string, orderID int, email string) pipeline.Event {
	t.Helper()
	body := orderBody(orderID, email, "processing")
	kind, env, err := pipeline.ParseAnyEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.Event{ID: id, Type: env.Event, Kind: kind, EntityID: env.EntityID, Body: body, Data: env.Data, ReceivedAt: testNow.Add(-time.Hour)}
}

// harness is a console over the fakes, with a client that keeps cookies.
type harness struct {
	t      *testing.T
	srv    *httptest.Server
	server *Server
	client *http.Client
	events *fakeEvents
	dlq    *fakeDLQ
	csrf   string
}

func newHarness(t *testing.T, cfg Config, deps Deps) *harness {
	t.Helper()
	h := &harness{t: t, events: &fakeEvents{timelines: map[string][]clickhouse.TimelineRow{}, delivered: map[string]bool{}},
		dlq: &fakeDLQ{records: map[string]Source{}}}
	if deps.Events == nil {
		deps.Events = h.events
	}
	if deps.DeadLetters == nil {
		deps.DeadLetters = h.dlq
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	if cfg.SessionKey == "" && !cfg.Development {
		cfg.SessionKey = testKey
	}
	s, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	h.server = s
	h.srv = httptest.NewServer(s.Handler())
	t.Cleanup(h.srv.Close)
	jar, _ := cookiejar.New(nil)
	h.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return h
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (h *harness) get(path string) (int, string, http.Header) {
	h.t.Helper()
	resp, err := h.client.Get(h.srv.URL + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfRE.FindSubmatch(b); m != nil {
		h.csrf = string(m[1])
	}
	return resp.StatusCode, string(b), resp.Header
}

func (h *harness) post(path string, form url.Values, headers ...string) (int, string, http.Header) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfRE.FindSubmatch(b); m != nil {
		h.csrf = string(m[1])
	}
	return resp.StatusCode, string(b), resp.Header
}

// login logs in with the token and leaves the session's CSRF token in h.csrf.
func (h *harness) login() {
	h.t.Helper()
	if code, _, _ := h.get("/login"); code != http.StatusOK {
		h.t.Fatalf("login page: %d", code)
	}
	code, _, hdr := h.post("/login", url.Values{"csrf": {h.csrf}, "token": {testToken}, "next": {"/"}})
	if code != http.StatusSeeOther || hdr.Get("Location") != "/" {
		h.t.Fatalf("login: %d to %q", code, hdr.Get("Location"))
	}
	if code, _, _ := h.get("/catalog"); code != http.StatusOK {
		h.t.Fatalf("after login: %d", code)
	}
}

func (h *harness) form(kv ...string) url.Values {
	v := url.Values{"csrf": {h.csrf}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func mustContain(t *testing.T, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", body)
	}
}
