package pipeline

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"
)

type signatureVectors struct {
	EverShop struct {
		Secret string `json:"secret"`
		Cases  []struct {
			Body      string `json:"body"`
			Signature string `json:"signature"`
			Valid     bool   `json:"valid"`
			Note      string `json:"note"`
		} `json:"cases"`
	} `json:"evershop"`
	Standard struct {
		Secret    string `json:"secret"`
		ID        string `json:"id"`
		Timestamp string `json:"timestamp"`
		Body      string `json:"body"`
		Signature string `json:"signature"`
	} `json:"standard_webhooks"`
	GitHub struct {
		Secret    string `json:"secret"`
		Body      string `json:"body"`
		Signature string `json:"signature"`
	} `json:"github"`
}

func loadVectors(t *testing.T) signatureVectors {
	t.Helper()
	raw, err := os.ReadFile("../testdata/signatures.json")
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var v signatureVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("parse vectors: %v", err)
	}
	return v
}

func mustVerifier(t *testing.T, secrets string) *Verifier {
	t.Helper()
	s, err := ParseSecrets(secrets)
	if err != nil {
		t.Fatalf("ParseSecrets(%q): %v", secrets, err)
	}
	return NewVerifier(s, 0)
}

func TestVerifyEverShopVectors(t *testing.T) {
	v := loadVectors(t)
	ver := mustVerifier(t, v.EverShop.Secret)
	for i, c := range v.EverShop.Cases {
		t.Run(c.Note+"#"+string(rune('0'+i)), func(t *testing.T) {
			h := http.Header{}
			h.Set("x-evershop-signature", c.Signature)
			scheme, err := ver.Verify(h, []byte(c.Body), time.Now())
			if c.Valid && err != nil {
				t.Fatalf("valid vector refused: %v", err)
			}
			if !c.Valid && err == nil {
				t.Fatalf("invalid vector accepted")
			}
			if scheme != SchemeEverShop {
				t.Fatalf("scheme = %q", scheme)
			}
		})
	}
}

func TestVerifyStandardWebhooksVector(t *testing.T) {
	v := loadVectors(t).Standard
	ver := mustVerifier(t, v.Secret)
	secs := int64(1614265330)
	sent := time.Unix(secs, 0)
	header := func(sig, ts string) http.Header {
		h := http.Header{}
		h.Set("webhook-id", v.ID)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		return h
	}
	cases := []struct {
		name    string
		h       http.Header
		body    string
		now     time.Time
		wantErr bool
	}{
		{"vector", header(v.Signature, v.Timestamp), v.Body, sent, false},
		{"one of several entries", header("v1,Zm9v "+v.Signature+" v2,abc", v.Timestamp), v.Body, sent, false},
		{"4m59s late is fine", header(v.Signature, v.Timestamp), v.Body, sent.Add(4*time.Minute + 59*time.Second), false},
		{"6 minutes late", header(v.Signature, v.Timestamp), v.Body, sent.Add(6 * time.Minute), true},
		{"6 minutes early", header(v.Signature, v.Timestamp), v.Body, sent.Add(-6 * time.Minute), true},
		{"body changed", header(v.Signature, v.Timestamp), v.Body + " ", sent, true},
		{"timestamp changed", header(v.Signature, "1614265331"), v.Body, sent, true},
		{"timestamp not a number", header(v.Signature, "yesterday"), v.Body, sent, true},
		{"wrong version", header("v2"+v.Signature[2:], v.Timestamp), v.Body, sent, true},
		{"garbage entries", header("v1 ,,, v1,%%%", v.Timestamp), v.Body, sent, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			scheme, err := ver.Verify(c.h, []byte(c.body), c.now)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, c.wantErr)
			}
			if scheme != SchemeStandardWebhooks {
				t.Fatalf("scheme = %q", scheme)
			}
			var se *SignatureError
			if err != nil && !errors.As(err, &se) {
				t.Fatalf("error is not a SignatureError: %T", err)
			}
		})
	}
}

func TestVerifyGitHubVector(t *testing.T) {
	v := loadVectors(t).GitHub
	ver := mustVerifier(t, v.Secret)
	h := http.Header{}
	h.Set("x-evershop-signature", v.Signature)
	if _, err := ver.Verify(h, []byte(v.Body), time.Now()); err != nil {
		t.Fatalf("GitHub-style vector refused: %v", err)
	}
}

func TestVerifyRotationAndMissing(t *testing.T) {
	vec := loadVectors(t)
	body := []byte(vec.EverShop.Cases[0].Body)
	sig := vec.EverShop.Cases[0].Signature
	cases := []struct {
		name    string
		secrets string
		h       map[string]string
		wantErr bool
	}{
		{"old secret still active", "new-secret, " + vec.EverShop.Secret, map[string]string{"x-evershop-signature": sig}, false},
		{"only the new secret", "new-secret", map[string]string{"x-evershop-signature": sig}, true},
		{"no signature at all", vec.EverShop.Secret, nil, true},
		{"not hex", vec.EverShop.Secret, map[string]string{"x-evershop-signature": "zz"}, true},
		{"short hex", vec.EverShop.Secret, map[string]string{"x-evershop-signature": sig[:10]}, true},
		{"standard without id", vec.EverShop.Secret, map[string]string{"webhook-signature": "v1,abc", "webhook-timestamp": "1"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ver := mustVerifier(t, c.secrets)
			h := http.Header{}
			for k, v := range c.h {
				h.Set(k, v)
			}
			_, err := ver.Verify(h, body, time.Now())
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, c.wantErr)
			}
		})
	}
}

func TestWhsecSecretVerifiesEverShopScheme(t *testing.T) {
	secrets, err := ParseSecrets(loadVectors(t).Standard.Secret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"event":"product.created"}`)
	h := http.Header{}
	h.Set("x-evershop-signature", "sha256="+SignEverShop(secrets[0], body))
	if _, err := NewVerifier(secrets, 0).Verify(h, body, time.Now()); err != nil {
		t.Fatalf("whsec key over the evershop scheme: %v", err)
	}
}

func TestSignStandardRoundTrip(t *testing.T) {
	secrets, _ := ParseSecrets("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	now := time.Unix(1700000000, 0)
	body := []byte(`{"a":1}`)
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", "1700000000")
	h.Set("webhook-signature", SignStandard(secrets[0], "msg_1", now, body))
	if _, err := NewVerifier(secrets, 0).Verify(h, body, now); err != nil {
		t.Fatal(err)
	}
}

func TestParseSecrets(t *testing.T) {
	cases := []struct {
		in      string
		n       int
		wantErr bool
	}{
		{"a", 1, false},
		{" a , b ,", 2, false},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,plain", 2, false},
		{"", 0, true},
		{" , ", 0, true},
		{"whsec_not*base64", 0, true},
		{"whsec_", 0, true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			s, err := ParseSecrets(c.in)
			if (err != nil) != c.wantErr || len(s) != c.n {
				t.Fatalf("ParseSecrets(%q) = %d secrets, %v", c.in, len(s), err)
			}
		})
	}
}
