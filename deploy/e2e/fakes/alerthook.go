package main

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// alertHook is the receiving end of shopstream's outgoing alert webhook
// (SHOPSTREAM_ALERT_WEBHOOK_URL), checked the way a careful receiver checks
// it: a JSON POST with a Slack-compatible "text", signed with Standard
// Webhooks headers (webhook-id, webhook-timestamp within five minutes,
// webhook-signature v1 over "id.timestamp.body" with the shared secret).
// An unsigned or badly signed post is refused with 401 and recorded as a
// contract violation; every accepted post is kept, repeats included, so
// the run can count exactly what arrived.
type alertHook struct {
	verifier *pipeline.Verifier

	mu         sync.Mutex
	posts      []alertPost
	violations []string
}

// alertPost is one accepted post: the webhook-id and the body's fields.
type alertPost struct {
	WebhookID  string          `json:"webhook_id"`
	Type       string          `json:"type"`
	Text       string          `json:"text"`
	Alert      json.RawMessage `json:"alert,omitempty"`
	Digest     json.RawMessage `json:"digest,omitempty"`
	Link       string          `json:"link,omitempty"`
	ReceivedAt time.Time       `json:"received_at"`
}

func newAlertHook(secret string) (*alertHook, error) {
	secrets, err := pipeline.ParseSecrets(secret)
	if err != nil {
		return nil, fmt.Errorf("alert webhook secret: %w", err)
	}
	return &alertHook{verifier: pipeline.NewVerifier(secrets, 0)}, nil
}

func (h *alertHook) violate(w http.ResponseWriter, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	h.mu.Lock()
	h.violations = append(h.violations, msg)
	h.mu.Unlock()
	http.Error(w, msg, status)
}

func (h *alertHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		h.violate(w, http.StatusUnsupportedMediaType, "alert webhook: content-type %q, want application/json", r.Header.Get("Content-Type"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<20))
	if err != nil {
		h.violate(w, http.StatusRequestEntityTooLarge, "alert webhook: body: %v", err)
		return
	}
	if r.Header.Get(pipeline.HeaderWebhookSignature) == "" {
		h.violate(w, http.StatusUnauthorized, "alert webhook: unsigned post (no webhook-signature)")
		return
	}
	scheme, err := h.verifier.Verify(r.Header, body, time.Now())
	if err != nil || scheme != pipeline.SchemeStandardWebhooks {
		h.violate(w, http.StatusUnauthorized, "alert webhook: %s signature refused: %v", scheme, err)
		return
	}
	var p alertPost
	if err := json.Unmarshal(body, &p); err != nil {
		h.violate(w, http.StatusBadRequest, "alert webhook: body is not JSON: %v", err)
		return
	}
	if p.Type == "" || p.Text == "" {
		h.violate(w, http.StatusBadRequest, "alert webhook: type and text are required: %s", body)
		return
	}
	p.WebhookID = r.Header.Get(pipeline.HeaderWebhookID)
	p.ReceivedAt = time.Now().UTC()
	h.mu.Lock()
	h.posts = append(h.posts, p)
	h.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// snapshot returns copies of the accepted posts and the violations.
func (h *alertHook) snapshot() ([]alertPost, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]alertPost(nil), h.posts...), append([]string(nil), h.violations...)
}
