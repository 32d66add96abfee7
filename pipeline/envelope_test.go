package pipeline

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseEnvelopeFixtures(t *testing.T) {
	files, err := filepath.Glob("../testdata/webhooks/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	want := map[string]string{
		"customer.created.evershop-row.json": "7",
		"customer.created.seed.json":         "789",
		"order.created.evershop-row.json":    "1001",
		"order.updated.evershop-row.json":    "1001",
		"order.updated.seed.json":            "456",
		"product.created.seed.json":          "123",
		"product.deleted.seed.json":          "123",
		"product.updated.evershop-row.json":  "42",
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			kind := Kind(strings.SplitN(name, ".", 2)[0])
			env, err := ParseEnvelope(kind, body)
			if err != nil {
				t.Fatalf("ParseEnvelope: %v", err)
			}
			if env.EntityID != want[name] {
				t.Fatalf("entity id = %q, want %q", env.EntityID, want[name])
			}
			if env.Timestamp.IsZero() || !strings.HasPrefix(name, env.Event) {
				t.Fatalf("envelope = %+v", env)
			}
		})
	}
}

func TestParseEnvelopeErrors(t *testing.T) {
	cases := []struct {
		name string
		kind Kind
		body string
		want EnvelopeErrorKind // 0 = accepted
		id   string
	}{
		{"not json", KindOrder, `{"event":`, Malformed, ""},
		{"array", KindOrder, `[1,2]`, Malformed, ""},
		{"null", KindOrder, `null`, Malformed, ""},
		{"trailing data", KindOrder, `{"event":"order.created","timestamp":"2025-10-28T12:00:00Z","data":{"id":1}} {}`, Malformed, ""},
		{"stray closing brace", KindOrder, `{"event":"order.created","timestamp":"2025-10-28T12:00:00Z","data":{"id":1}}}`, Malformed, ""},
		{"stray closing bracket", KindOrder, `{"event":"order.created","timestamp":"2025-10-28T12:00:00Z","data":{"id":1}}]`, Malformed, ""},
		{"no event", KindOrder, `{"timestamp":"2025-10-28T12:00:00Z","data":{"id":1}}`, Malformed, ""},
		{"empty event", KindOrder, `{"event":"","timestamp":"2025-10-28T12:00:00Z","data":{"id":1}}`, Malformed, ""},
		{"no timestamp", KindOrder, `{"event":"order.created","data":{"id":1}}`, Malformed, ""},
		{"bad timestamp", KindOrder, `{"event":"order.created","timestamp":"yesterday","data":{"id":1}}`, Malformed, ""},
		{"data not object", KindOrder, `{"event":"order.created","timestamp":"2025-10-28T12:00:00Z","data":[1]}`, Malformed, ""},
		{"data missing", KindOrder, `{"event":"order.created","timestamp":"2025-10-28T12:00:00Z"}`, Malformed, ""},
		{"event of another endpoint", KindOrder, `{"event":"product.created","timestamp":"2025-10-28T12:00:00Z","data":{"id":1}}`, Invalid, ""},
		{"unknown event", KindProduct, `{"event":"product.exploded","timestamp":"2025-10-28T12:00:00Z","data":{"id":1}}`, Invalid, ""},
		{"no entity id", KindCustomer, `{"event":"customer.created","timestamp":"2025-10-28T12:00:00Z","data":{"email":"a@b"}}`, Invalid, ""},
		{"id is an object", KindCustomer, `{"event":"customer.created","timestamp":"2025-10-28T12:00:00Z","data":{"id":{}}}`, Invalid, ""},
		{"id empty string", KindCustomer, `{"event":"customer.created","timestamp":"2025-10-28T12:00:00Z","data":{"id":"  "}}`, Invalid, ""},
		{"id too long", KindCustomer, `{"event":"customer.created","timestamp":"2025-10-28T12:00:00Z","data":{"id":"` + strings.Repeat("x", 201) + `"}}`, Invalid, ""},
		{"null id falls back", KindOrder, `{"event":"order.created","timestamp":"2025-10-28T12:00:00Z","data":{"id":null,"order_id":5}}`, 0, "5"},
		{"id wins over order_id", KindOrder, `{"event":"order.created","timestamp":"2025-10-28T12:00:00Z","data":{"id":"A","order_id":5}}`, 0, "A"},
		{"other kind's id is ignored", KindOrder, `{"event":"order.created","timestamp":"2025-10-28T12:00:00Z","data":{"product_id":9,"uuid":"u-1"}}`, 0, "u-1"},
		{"nanosecond timestamp", KindOrder, `{"event":"order.created","timestamp":"2025-10-28T12:00:00.123456+02:00","data":{"id":7}}`, 0, "7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, err := ParseEnvelope(c.kind, []byte(c.body))
			if c.want == 0 {
				if err != nil || env.EntityID != c.id {
					t.Fatalf("got %+v, %v; want id %q", env, err, c.id)
				}
				return
			}
			var ee *EnvelopeError
			if !errors.As(err, &ee) || ee.Kind != c.want {
				t.Fatalf("err = %v, want kind %d", err, c.want)
			}
		})
	}
}

func TestEventID(t *testing.T) {
	plain := []byte(`{"event":"order.created","timestamp":"2026-11-21T15:02:11Z","data":{"order_id":1}}`)
	withID := []byte(`{"event":"order.created","timestamp":"2026-11-21T15:02:11Z","webhook_id":"7c1e-uuid","data":{"order_id":1}}`)
	cases := []struct {
		name    string
		scheme  string
		body    []byte
		h       map[string]string
		want    string
		wantErr bool
	}{
		{"standard webhooks: the signed webhook-id", SchemeStandardWebhooks, plain, map[string]string{"webhook-id": "msg_1"}, "msg_1", false},
		{"standard webhooks: webhook-id beats the body id", SchemeStandardWebhooks, withID, map[string]string{"webhook-id": "msg_1"}, "msg_1", false},
		{"standard webhooks: too long", SchemeStandardWebhooks, plain, map[string]string{"webhook-id": strings.Repeat("a", 201)}, "", true},
		{"standard webhooks: control chars", SchemeStandardWebhooks, plain, map[string]string{"webhook-id": "a\x00b"}, "", true},
		{"evershop: body id", SchemeEverShop, withID, nil, "7c1e-uuid", false},
		{"evershop: body hash", SchemeEverShop, plain, nil, bodyHash(plain), false},
		{"evershop: unsigned x-evershop-webhook-id ignored", SchemeEverShop, plain, map[string]string{"x-evershop-webhook-id": "ev_1"}, bodyHash(plain), false},
		{"evershop: unsigned webhook-id ignored", SchemeEverShop, plain, map[string]string{"webhook-id": "msg_x"}, bodyHash(plain), false},
		{"evershop: headers never beat the body id", SchemeEverShop, withID, map[string]string{"webhook-id": "msg_x", "x-evershop-webhook-id": "ev_1"}, "7c1e-uuid", false},
		{"unsigned test endpoint: headers ignored", "none", plain, map[string]string{"x-evershop-webhook-id": "ev_1"}, bodyHash(plain), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range c.h {
				h.Set(k, v)
			}
			env, err := ParseEnvelope(KindOrder, c.body)
			if err != nil {
				t.Fatal(err)
			}
			got, err := EventID(c.scheme, h, env, c.body)
			if (err != nil) != c.wantErr || got != c.want {
				t.Fatalf("EventID = %q, %v; want %q", got, err, c.want)
			}
		})
	}
	if got := BodyEventID(plain); len(got) != 64 || got != bodyHash(plain) {
		t.Fatalf("BodyEventID(no id) = %q, want the hex sha256", got)
	}
	if got := BodyEventID(withID); got != "7c1e-uuid" {
		t.Fatalf("BodyEventID(with id) = %q", got)
	}
}

func TestEnvelopeWebhookID(t *testing.T) {
	base := `{"event":"order.created","timestamp":"2026-11-21T15:02:11Z","data":{"order_id":1},"webhook_id":%s}`
	cases := []struct {
		name, id, want string
		bad            bool
	}{
		{"string", `"abc"`, "abc", false},
		{"null is absent", `null`, "", false},
		{"number refused", `42`, "", true},
		{"empty refused", `""`, "", true},
		{"too long refused", `"` + strings.Repeat("a", 201) + `"`, "", true},
		{"control chars refused", `"a\u0000b"`, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, err := ParseEnvelope(KindOrder, []byte(fmt.Sprintf(base, c.id)))
			if c.bad {
				var ee *EnvelopeError
				if !errors.As(err, &ee) || ee.Kind != Malformed {
					t.Fatalf("err = %v, want Malformed", err)
				}
				return
			}
			if err != nil || env.WebhookID != c.want {
				t.Fatalf("WebhookID = %q, %v; want %q", env.WebhookID, err, c.want)
			}
		})
	}
}

// FuzzRequest drives the ingress's pure request path, signature check then
// envelope parsing, with arbitrary bodies and headers. It must never panic,
// a body signed with the active secret must always verify, and an accepted
// envelope always names an event of its endpoint and a non-empty entity id.
func FuzzRequest(f *testing.F) {
	files := webhookFixtures(f)
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err == nil {
			f.Add(body, "", "")
		}
	}
	f.Add([]byte(`{"event":"order.updated","timestamp":"2025-10-28T12:00:00Z","data":{"id":1e3}}`), "sha256=00", "v1,AAAA")
	f.Add([]byte(`{}`), "ZZ", "v1")
	secrets, _ := ParseSecrets("fuzz-secret")
	ver := NewVerifier(secrets, 0)
	now := time.Unix(1700000000, 0)
	f.Fuzz(func(t *testing.T, body []byte, evershopSig, stdSig string) {
		h := http.Header{}
		h.Set("x-evershop-signature", evershopSig)
		_, _ = ver.Verify(h, body, now)
		h.Set("webhook-signature", stdSig)
		h.Set("webhook-id", "msg")
		h.Set("webhook-timestamp", "1700000000")
		_, _ = ver.Verify(h, body, now)

		signed := http.Header{}
		signed.Set("x-evershop-signature", SignEverShop(secrets[0], body))
		if _, err := ver.Verify(signed, body, now); err != nil {
			t.Fatalf("correctly signed body refused: %v", err)
		}
		for _, kind := range []Kind{KindProduct, KindOrder, KindCustomer} {
			env, err := ParseEnvelope(kind, body)
			if err != nil {
				var ee *EnvelopeError
				if !errors.As(err, &ee) {
					t.Fatalf("unclassified error %T: %v", err, err)
				}
				continue
			}
			if env.EntityID == "" {
				t.Fatalf("accepted envelope without entity id: %q", body)
			}
			if k, ok := KindOf(env.Event); !ok || k != kind {
				t.Fatalf("accepted event %q on the %s endpoint", env.Event, kind)
			}
		}
	})
}
