package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// The receiver is what makes the e2e's "signed" check mean something: it
// must refuse what a Standard Webhooks receiver refuses.
func TestAlertHookAcceptsOnlyValidStandardWebhooks(t *testing.T) {
	const secret = "whsec_ZTJlLWFsZXJ0LXdlYmhvb2stc2VjcmV0"
	hook, err := newAlertHook(secret)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pipeline.ParseSecrets(secret)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := pipeline.ParseSecrets("whsec_b3RoZXItc2VjcmV0")
	body := []byte(`{"type":"alert.low_stock","text":"Low stock: Lamp (SKU L-1) — 3 left (was 12).","alert":{"id":"alert_1"}}`)
	now := time.Now()
	post := func(id string, ts time.Time, sig string, b []byte, ct string) int {
		req := httptest.NewRequest(http.MethodPost, "/alerts", bytes.NewReader(b))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		if sig != "" {
			req.Header.Set("webhook-signature", sig)
		}
		rec := httptest.NewRecorder()
		hook.ServeHTTP(rec, req)
		return rec.Code
	}
	cases := []struct {
		name string
		code int
		send func() int
	}{
		{"signed", http.StatusOK, func() int {
			return post("alert_1", now, pipeline.SignStandard(keys[0], "alert_1", now, body), body, "application/json")
		}},
		{"unsigned", http.StatusUnauthorized, func() int { return post("alert_1", now, "", body, "application/json") }},
		{"other secret", http.StatusUnauthorized, func() int {
			return post("alert_1", now, pipeline.SignStandard(other[0], "alert_1", now, body), body, "application/json")
		}},
		{"body changed", http.StatusUnauthorized, func() int {
			return post("alert_1", now, pipeline.SignStandard(keys[0], "alert_1", now, body), append(bytes.Clone(body), ' '), "application/json")
		}},
		{"id changed", http.StatusUnauthorized, func() int {
			return post("alert_2", now, pipeline.SignStandard(keys[0], "alert_1", now, body), body, "application/json")
		}},
		{"stale timestamp", http.StatusUnauthorized, func() int {
			old := now.Add(-10 * time.Minute)
			return post("alert_1", old, pipeline.SignStandard(keys[0], "alert_1", old, body), body, "application/json")
		}},
		{"not json", http.StatusUnsupportedMediaType, func() int {
			return post("alert_1", now, pipeline.SignStandard(keys[0], "alert_1", now, body), body, "text/plain")
		}},
		{"no text", http.StatusBadRequest, func() int {
			b := []byte(`{"type":"alert.low_stock"}`)
			return post("alert_3", now, pipeline.SignStandard(keys[0], "alert_3", now, b), b, "application/json")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.send(); got != c.code {
				t.Errorf("status %d, want %d", got, c.code)
			}
		})
	}
	posts, violations := hook.snapshot()
	if len(posts) != 1 || posts[0].WebhookID != "alert_1" || posts[0].Type != "alert.low_stock" {
		t.Errorf("accepted posts: %+v, want only the signed one", posts)
	}
	if len(violations) != len(cases)-1 {
		t.Errorf("violations: %d %q, want one per refused post", len(violations), violations)
	}
}
