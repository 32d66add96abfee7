// Command fakes serves the knowledge base (Coze) and the support inbox for
// the end-to-end run, using the same in-memory fakes as shopstream's tests
// (connectors/coze/cozetest, connectors/inbox/inboxtest), the receiver of
// shopstream's signed alert webhook (alerthook.go, POST /alerts on -addr),
// and a JSON dump of what they received for the run's assertions.
//
//	go run ./deploy/e2e/fakes -addr 127.0.0.1:18390 -urls var/e2e/fakes.env
//
// The fakes listen on their own loopback ports (httptest picks them); their
// base URLs are written to -urls as shell assignments (COZE_API_URL=...,
// INBOX_API_URL=..., ALERT_WEBHOOK_URL=...). GET /dump on -addr returns the
// documents, messages, alert posts and contract violations; GET /healthz
// answers 200.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shopstream/shopstream/connectors/coze/cozetest"
	"github.com/shopstream/shopstream/connectors/inbox/inboxtest"
)

type document struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	FileType string `json:"file_type"`
	Status   int    `json:"status"`
	Content  string `json:"content"`
}

type message struct {
	ID             string    `json:"id"`
	ConversationID string    `json:"conversation_id"`
	Email          string    `json:"email"`
	Content        string    `json:"content"`
	IdempotencyKey string    `json:"idempotency_key"`
	CreatedAt      time.Time `json:"created_at"`
}

type dump struct {
	Coze struct {
		Documents  []document `json:"documents"`
		Uploads    int        `json:"uploads"`
		Violations []string   `json:"violations"`
	} `json:"coze"`
	Inbox struct {
		Messages      []message `json:"messages"`
		DistinctPosts int       `json:"distinct_posts"`
		TotalPosts    int       `json:"total_posts"`
		Violations    []string  `json:"violations"`
	} `json:"inbox"`
	Alerts struct {
		Posts      []alertPost `json:"posts"`
		Violations []string    `json:"violations"`
	} `json:"alerts"`
}

func main() {
	if err := run(); err != nil {
		log.Fatalf("fakes: %v", err)
	}
}

// run serves the fakes until a signal; returning (not exiting) lets the
// deferred Close of the fake servers run.
func run() error {
	addr := flag.String("addr", "127.0.0.1:18390", "listen address of the dump endpoint")
	urls := flag.String("urls", "", "file to write COZE_API_URL / INBOX_API_URL assignments to")
	cozeToken := flag.String("coze-token", "e2e-coze-token", "bearer token the Coze fake accepts")
	dataset := flag.String("coze-dataset", "7400000000000000001", "dataset id the Coze fake serves")
	inboxToken := flag.String("inbox-token", "e2e-inbox-token", "bearer token the inbox fake accepts")
	brokers := flag.String("kafka", "127.0.0.1:9092", "Kafka brokers for GET /lag")
	alertSecret := flag.String("alert-secret", "", "Standard Webhooks secret the alert webhook must be signed with (whsec_<base64> or raw)")
	flag.Parse()

	if *alertSecret == "" {
		return fmt.Errorf("-alert-secret is required: the alert webhook accepts signed posts only")
	}
	hook, err := newAlertHook(*alertSecret)
	if err != nil {
		return err
	}
	lag, closeLag, err := newLagProbe(*brokers, slog.Default())
	if err != nil {
		return err
	}
	defer closeLag()

	coze := cozetest.NewServer(*cozeToken, *dataset)
	defer coze.Close()
	coze.SetProcessPolls(0)
	inbox := inboxtest.NewServer(*inboxToken)
	defer inbox.Close()

	if *urls != "" {
		body := fmt.Sprintf("COZE_API_URL=%s\nINBOX_API_URL=%s\nALERT_WEBHOOK_URL=http://%s/alerts\n", coze.URL, inbox.URL, *addr)
		if err := os.WriteFile(*urls, []byte(body), 0o644); err != nil {
			return err
		}
	}

	mux := http.NewServeMux()
	mux.Handle("POST /alerts", hook)
	mux.Handle("GET /lag", lag)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /dump", func(w http.ResponseWriter, _ *http.Request) {
		var d dump
		for _, doc := range coze.Documents() {
			d.Coze.Documents = append(d.Coze.Documents, document{ID: doc.ID, Name: doc.Name, FileType: doc.FileType, Status: doc.Status, Content: string(doc.Content)})
		}
		d.Coze.Uploads = coze.Uploads()
		d.Coze.Violations = coze.Violations()
		for _, m := range inbox.AllMessages() {
			d.Inbox.Messages = append(d.Inbox.Messages, message{ID: m.ID, ConversationID: m.ConversationID, Email: m.Email, Content: m.Content, IdempotencyKey: m.IdempotencyKey, CreatedAt: m.CreatedAt})
		}
		d.Inbox.DistinctPosts, d.Inbox.TotalPosts = inbox.MessagePosts()
		d.Inbox.Violations = inbox.Violations()
		d.Alerts.Posts, d.Alerts.Violations = hook.snapshot()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(d)
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("fakes: coze %s, inbox %s, dump http://%s/dump", coze.URL, inbox.URL, *addr)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		return err
	}
	return nil
}
