package inbox_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopstream/shopstream/connectors/inbox"
	"github.com/shopstream/shopstream/connectors/inbox/inboxtest"
	"github.com/shopstream/shopstream/pipeline"
)

const token = "inbox-token"

func newClient(t *testing.T, url string, hc *http.Client, logger *slog.Logger) *inbox.Client {
	t.Helper()
	c, err := inbox.New(inbox.Config{BaseURL: url, Token: token, Timeout: 2 * time.Second}, hc, logger)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var ada = inbox.Message{EventID: "evt-1", Email: "ada@example.com", Content: "Your order #1001 has shipped."}

func TestSend(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*inboxtest.Server)
		// check runs after one warm-up Send of another event and one Send of ada.
		check func(t *testing.T, fake *inboxtest.Server, id string, err error)
	}{
		{
			name: "delivers into the customer's conversation",
			check: func(t *testing.T, fake *inboxtest.Server, id string, err error) {
				msgs := fake.Messages(ada.Email)
				if err != nil || len(msgs) != 2 || msgs[1].ID != id {
					t.Fatalf("id=%q err=%v msgs=%+v", id, err, msgs)
				}
				m := msgs[1]
				if m.Content != ada.Content || m.Role != "assistant" || m.MessageType != "text" || m.IdempotencyKey != ada.EventID {
					t.Errorf("stored %+v", m)
				}
				if fake.Requests(inboxtest.PathLogin) != 1 || fake.Requests(inboxtest.PathConversation) != 1 {
					t.Error("user and conversation should be resolved once and cached")
				}
			},
		},
		{
			name:  "5xx is retryable",
			setup: func(f *inboxtest.Server) { f.FailNext(1, http.StatusInternalServerError) },
			check: func(t *testing.T, _ *inboxtest.Server, _ string, err error) {
				if err == nil || pipeline.IsPermanent(err) {
					t.Fatalf("err = %v, want retryable", err)
				}
			},
		},
		{
			name:  "429 is retryable after Retry-After",
			setup: func(f *inboxtest.Server) { f.FailNextRetryAfter("", 1, http.StatusTooManyRequests, "4") },
			check: func(t *testing.T, _ *inboxtest.Server, _ string, err error) {
				if after, ok := pipeline.RetryAfter(err); !ok || after != 4*time.Second {
					t.Fatalf("err = %v, want retryable after 4s", err)
				}
			},
		},
		{
			name:  "400 is permanent",
			setup: func(f *inboxtest.Server) { f.FailPathNext(inboxtest.PathMessages, 1, http.StatusBadRequest) },
			check: func(t *testing.T, _ *inboxtest.Server, _ string, err error) {
				if !pipeline.IsPermanent(err) {
					t.Fatalf("err = %v, want permanent", err)
				}
			},
		},
		{
			name:  "one 401 re-resolves and succeeds",
			setup: func(f *inboxtest.Server) { f.FailPathNext(inboxtest.PathMessages, 1, http.StatusUnauthorized) },
			check: func(t *testing.T, fake *inboxtest.Server, _ string, err error) {
				if err != nil || fake.Requests(inboxtest.PathLogin) != 2 || len(fake.Messages(ada.Email)) != 2 {
					t.Fatalf("err = %v logins = %d", err, fake.Requests(inboxtest.PathLogin))
				}
			},
		},
		{
			name:  "a second 401 is permanent",
			setup: func(f *inboxtest.Server) { f.FailPathNext(inboxtest.PathMessages, 2, http.StatusUnauthorized) },
			check: func(t *testing.T, _ *inboxtest.Server, _ string, err error) {
				var se *inbox.StatusError
				if !pipeline.IsPermanent(err) || !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
					t.Fatalf("err = %v, want permanent 401", err)
				}
			},
		},
		{
			name:  "a vanished conversation is recreated",
			setup: func(f *inboxtest.Server) { f.DropConversation(ada.Email) },
			check: func(t *testing.T, fake *inboxtest.Server, id string, err error) {
				conv, _ := fake.ConversationID(ada.Email)
				msgs := fake.ConversationMessages(conv)
				if err != nil || len(msgs) != 1 || msgs[0].ID != id {
					t.Fatalf("err = %v msgs = %+v", err, msgs)
				}
			},
		},
		{
			name:  "outage is retryable",
			setup: func(f *inboxtest.Server) { f.SetDown(true) },
			check: func(t *testing.T, _ *inboxtest.Server, _ string, err error) {
				if err == nil || pipeline.IsPermanent(err) {
					t.Fatalf("err = %v, want retryable", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := inboxtest.Start(t, token)
			c := newClient(t, fake.URL, fake.Client(), nil)
			if _, err := c.Send(t.Context(), inbox.Message{EventID: "warm-up", Email: ada.Email, Content: "Welcome!"}); err != nil {
				t.Fatal(err)
			}
			if tt.setup != nil {
				tt.setup(fake)
			}
			id, err := c.Send(t.Context(), ada)
			tt.check(t, fake, id, err)
			if v := fake.Violations(); len(v) > 0 {
				t.Errorf("violations: %q", v)
			}
		})
	}
}

func TestSendIsIdempotentByEventID(t *testing.T) {
	fake := inboxtest.Start(t, token)
	c := newClient(t, fake.URL, fake.Client(), nil)
	first, err := c.Send(t.Context(), ada)
	if err != nil {
		t.Fatal(err)
	}
	// The backend stores the next one but the answer is lost: the retry must
	// not produce a second message.
	fake.LoseResponseNext(1)
	if _, err := c.Send(t.Context(), inbox.Message{EventID: "evt-2", Email: ada.Email, Content: "Delivered."}); err == nil || pipeline.IsPermanent(err) {
		t.Fatalf("lost response: err = %v, want retryable", err)
	}
	second, err := c.Send(t.Context(), inbox.Message{EventID: "evt-2", Email: ada.Email, Content: "Delivered."})
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Send(t.Context(), ada)
	if err != nil || again != first || second == first {
		t.Fatalf("ids first=%s second=%s again=%s err=%v", first, second, again, err)
	}
	if distinct, total := fake.MessagePosts(); distinct != 2 || total != 4 {
		t.Errorf("posts distinct=%d total=%d, want 2 and 4", distinct, total)
	}
}

func TestSendConcurrently(t *testing.T) {
	fake := inboxtest.Start(t, token)
	c := newClient(t, fake.URL, fake.Client(), nil)
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			m := inbox.Message{EventID: fmt.Sprintf("evt-%d", i%30), Email: fmt.Sprintf("c%d@example.com", i%30%5), Content: "hi"}
			if _, err := c.Send(t.Context(), m); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if distinct, total := fake.MessagePosts(); distinct != 30 || total != 60 {
		t.Errorf("posts distinct=%d total=%d, want 30 and 60", distinct, total)
	}
	for i := range 5 {
		if got := len(fake.Messages(fmt.Sprintf("c%d@example.com", i))); got != 6 {
			t.Errorf("customer %d has %d messages, want 6", i, got)
		}
	}
	if v := fake.Violations(); len(v) > 0 {
		t.Errorf("violations: %q", v)
	}
}

func TestSendRejectsBadMessagesAndCodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprint(w, `{"code":7,"message":"tenant suspended"}`)
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, srv.Client(), nil)
	var ae *inbox.APIError
	if _, err := c.Send(t.Context(), ada); !pipeline.IsPermanent(err) || !errors.As(err, &ae) || ae.Code != 7 {
		t.Fatalf("err = %v, want permanent APIError 7", err)
	}
	for _, m := range []inbox.Message{{Email: "a@b", Content: "x"}, {EventID: "e", Content: "x"}, {EventID: "e", Email: "a@b"}} {
		if _, err := c.Send(t.Context(), m); !pipeline.IsPermanent(err) {
			t.Errorf("Send(%+v) = %v, want permanent", m, err)
		}
	}
}

// A customer's e-mail and message text are personal data: never at info level.
func TestSendKeepsPersonalDataOutOfInfoLogs(t *testing.T) {
	fake := inboxtest.Start(t, token)
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c := newClient(t, fake.URL, fake.Client(), logger)
	if _, err := c.Send(t.Context(), ada); err != nil {
		t.Fatal(err)
	}
	fake.FailPathNext(inboxtest.PathMessages, 1, http.StatusUnauthorized)
	if _, err := c.Send(t.Context(), inbox.Message{EventID: "evt-9", Email: ada.Email, Content: ada.Content}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), ada.Email) || strings.Contains(buf.String(), "shipped") {
		t.Errorf("personal data at info level: %s", buf.String())
	}
	// Each send is on record at info through the processor's "event
	// outcome" line; the client's own per-message line is debug detail.
	var debug bytes.Buffer
	c = newClient(t, fake.URL, fake.Client(), slog.New(slog.NewJSONHandler(&debug, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if _, err := c.Send(t.Context(), ada); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(debug.String(), `"msg":"inbox message sent"`) || !strings.Contains(debug.String(), "evt-1") {
		t.Errorf("expected a debug line with the event id, got %s", debug.String())
	}
}

func TestSendTimesOutPerRequest(t *testing.T) {
	fake := inboxtest.Start(t, token)
	fake.SetLatency(2 * time.Second) // 40x the client timeout: a loaded machine cannot make it answer first
	c, err := inbox.New(inbox.Config{BaseURL: fake.URL, Token: token, Timeout: 50 * time.Millisecond}, fake.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(t.Context(), ada); err == nil || pipeline.IsPermanent(err) {
		t.Fatalf("err = %v, want retryable timeout", err)
	}
}

func TestNotifyDeliversThePipelineNotification(t *testing.T) {
	fake := inboxtest.Start(t, token)
	var n pipeline.Notifier = newClient(t, fake.URL, fake.Client(), nil)
	note := pipeline.Notification{EventID: "evt-9", Email: "ada@example.com", Text: "Shipped.", Reason: "order.updated:shipped"}
	if err := n.Notify(t.Context(), note); err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(t.Context(), note); err != nil {
		t.Fatal(err)
	}
	msgs := fake.Messages(note.Email)
	if len(msgs) != 1 || msgs[0].Content != note.Text || msgs[0].IdempotencyKey != note.EventID {
		t.Fatalf("stored %+v, want one message keyed by the event id", msgs)
	}
	if err := n.Notify(t.Context(), pipeline.Notification{EventID: "evt-10", Text: "x"}); !pipeline.IsPermanent(err) {
		t.Fatalf("no e-mail: err = %v, want permanent", err)
	}
}
