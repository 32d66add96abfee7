// Package webhook posts store alerts to an outgoing webhook URL (Slack-
// compatible incoming webhooks and any other tool), signed with Standard
// Webhooks headers: webhook-id (the alert id, stable across retries, so the
// receiver can deduplicate), webhook-timestamp and webhook-signature
// (v1,<base64 HMAC-SHA256 of "id.timestamp.body">).
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/shopstream/shopstream/connectors/internal/httpx"
	"github.com/shopstream/shopstream/pipeline"
)

// Config configures a Client.
type Config struct {
	URL string
	// Secret signs every request; nil leaves the signature out (a Slack
	// URL is its own secret). Parse it with pipeline.ParseSecrets.
	Secret *pipeline.Secret
	// StoreURL is EverShop's base URL, for the admin link; "" none.
	StoreURL string
	Timeout  time.Duration // per request; 10 s by default
	Now      func() time.Time
}

// Client posts alerts to one URL.
type Client struct {
	cfg Config
	hc  *http.Client
	log *slog.Logger
}

// New builds the client.
func New(cfg Config, hc *http.Client, log *slog.Logger) (*Client, error) {
	if err := httpx.CheckBaseURL("alerts.webhook_url", cfg.URL); err != nil {
		return nil, err
	}
	httpx.SetDefault(&cfg.Timeout, 10*time.Second)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hc, log = httpx.Defaults(hc, log, "alert-webhook")
	return &Client{cfg: cfg, hc: hc, log: log}, nil
}

// Payload is the body of an alert post: "text" for Slack-compatible tools,
// the alert itself for everything else.
type Payload struct {
	Type  string         `json:"type"` // alert.<trigger>
	Text  string         `json:"text"`
	Alert pipeline.Alert `json:"alert"`
	Link  string         `json:"link,omitempty"`
}

// DigestPayload is the body of a digest post.
type DigestPayload struct {
	Type   string               `json:"type"` // alert.digest
	Text   string               `json:"text"`
	Digest pipeline.AlertDigest `json:"digest"`
}

// SendDigest implements pipeline.DigestSender: one post for many alerts,
// with the full list as CSV in the body (digest.csv).
func (c *Client) SendDigest(ctx context.Context, d pipeline.AlertDigest) error {
	body, err := httpx.EncodeJSON("alert webhook", DigestPayload{Type: "alert.digest", Text: pipeline.DigestText(d, c.cfg.StoreURL), Digest: d})
	if err != nil {
		return err
	}
	return c.post(ctx, d.ID, body)
}

// StatusError is a non-2xx answer, wrapped retryable (408, 429, 5xx) or
// permanent by httpx.Classify.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return httpx.StatusMessage("alert webhook", e.Status, e.Body, "", "")
}

// SendAlert implements pipeline.AlertSender. Retries send the same
// webhook-id; the timestamp and signature are fresh each time, as the
// Standard Webhooks spec asks.
func (c *Client) SendAlert(ctx context.Context, a pipeline.Alert) error {
	body, err := httpx.EncodeJSON("alert webhook", Payload{Type: pipeline.AlertEventType(a.Trigger),
		Text: pipeline.AlertText(a, c.cfg.StoreURL), Alert: a, Link: a.AdminURL(c.cfg.StoreURL)})
	if err != nil {
		return err
	}
	if a.ID == "" {
		return pipeline.Permanent(errors.New("alert webhook: alert without id"))
	}
	if err := c.post(ctx, a.ID, body); err != nil {
		return err
	}
	c.log.Info("alert posted", "alert", a.ID, "trigger", string(a.Trigger), "product", a.ProductID)
	return nil
}

// post sends body signed under id (webhook-id).
func (c *Client) post(ctx context.Context, id string, body json.RawMessage) error {
	now := c.cfg.Now()
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
	if c.cfg.Secret != nil {
		h.Set("webhook-signature", pipeline.SignStandard(*c.cfg.Secret, id, now, body))
	}
	_, _, err := httpx.PostJSON(ctx, c.hc, httpx.Request{Op: "alert webhook", URL: c.cfg.URL, Body: body, Header: h,
		Timeout: c.cfg.Timeout, MaxResponseBytes: 64 << 10, Now: c.cfg.Now,
		StatusError: func(_ string, resp *http.Response, b []byte) error {
			return &StatusError{Status: resp.StatusCode, Body: httpx.Snippet(b)}
		}})
	return err
}
