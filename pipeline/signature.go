package pipeline

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of the two signature schemes the ingress accepts.
const (
	HeaderEverShopSignature = "X-Evershop-Signature"
	HeaderEverShopWebhookID = "X-Evershop-Webhook-Id"
	HeaderWebhookID         = "Webhook-Id"
	HeaderWebhookTimestamp  = "Webhook-Timestamp"
	HeaderWebhookSignature  = "Webhook-Signature"
)

// Signature schemes, as recorded on the Kafka record.
const (
	SchemeEverShop         = "evershop-hmac"
	SchemeStandardWebhooks = "standard-webhooks"
)

// DefaultTimestampTolerance is how far a Standard Webhooks timestamp may be
// from now before the request is refused as a possible replay.
const DefaultTimestampTolerance = 5 * time.Minute

// HeaderGetter is the part of http.Header the verifier needs; it keeps this
// package free of net/http.
type HeaderGetter interface {
	Get(key string) string
}

// SignatureError says why a request was not authenticated. Every
// SignatureError maps to 401; Reason is safe to return to the sender.
type SignatureError struct{ Reason string }

func (e *SignatureError) Error() string { return "signature: " + e.Reason }

// Secret is one active webhook secret. Several may be active at once while a
// secret is being rotated.
type Secret struct {
	key []byte
}

const standardWebhooksSecretPrefix = "whsec_"

// ParseSecrets reads a comma-separated list of secrets. A secret written
// whsec_<base64> is a Standard Webhooks secret whose key is the decoded
// bytes; any other secret is used as its UTF-8 bytes. Both kinds verify both
// schemes.
func ParseSecrets(list string) ([]Secret, error) {
	var out []Secret
	for i, raw := range strings.Split(list, ",") {
		s := strings.TrimSpace(raw)
		if s == "" {
			continue
		}
		if b64, ok := strings.CutPrefix(s, standardWebhooksSecretPrefix); ok {
			key, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				return nil, fmt.Errorf("secret %d: whsec_ secret is not valid base64: %w", i+1, err)
			}
			if len(key) == 0 {
				return nil, fmt.Errorf("secret %d: whsec_ secret is empty", i+1)
			}
			out = append(out, Secret{key: key})
			continue
		}
		out = append(out, Secret{key: []byte(s)})
	}
	if len(out) == 0 {
		return nil, errors.New("no secret given")
	}
	return out, nil
}

// Verifier authenticates webhook requests against the active secrets.
type Verifier struct {
	secrets   []Secret
	tolerance time.Duration
}

// NewVerifier returns a Verifier. A zero tolerance means
// DefaultTimestampTolerance.
func NewVerifier(secrets []Secret, tolerance time.Duration) *Verifier {
	if tolerance <= 0 {
		tolerance = DefaultTimestampTolerance
	}
	return &Verifier{secrets: secrets, tolerance: tolerance}
}

// Verify checks the request's signature over body, the bytes exactly as
// received, and returns the scheme that matched. Standard Webhooks headers
// are checked when present, else x-evershop-signature. Every comparison is
// constant time.
func (v *Verifier) Verify(h HeaderGetter, body []byte, now time.Time) (string, error) {
	if sig := h.Get(HeaderWebhookSignature); sig != "" {
		return SchemeStandardWebhooks, v.verifyStandard(h, sig, body, now)
	}
	if sig := h.Get(HeaderEverShopSignature); sig != "" {
		return SchemeEverShop, v.verifyEverShop(sig, body)
	}
	return "", &SignatureError{Reason: "missing signature (x-evershop-signature or webhook-signature)"}
}

func (v *Verifier) verifyEverShop(sig string, body []byte) error {
	sig = strings.TrimSpace(sig)
	if len(sig) > 7 && strings.EqualFold(sig[:7], "sha256=") {
		sig = sig[7:]
	}
	want, err := hex.DecodeString(sig) // accepts upper and lower case
	if err != nil || len(want) != sha256.Size {
		return &SignatureError{Reason: "x-evershop-signature is not a hex HMAC-SHA256"}
	}
	for _, s := range v.secrets {
		if hmac.Equal(mac(s.key, body), want) {
			return nil
		}
	}
	return &SignatureError{Reason: "invalid signature"}
}

func (v *Verifier) verifyStandard(h HeaderGetter, sigList string, body []byte, now time.Time) error {
	id, ts := h.Get(HeaderWebhookID), h.Get(HeaderWebhookTimestamp)
	if id == "" || ts == "" {
		return &SignatureError{Reason: "webhook-id and webhook-timestamp are required with webhook-signature"}
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return &SignatureError{Reason: "webhook-timestamp is not a unix time"}
	}
	sent := time.Unix(secs, 0)
	if d := now.Sub(sent); d > v.tolerance || d < -v.tolerance {
		return &SignatureError{Reason: "webhook-timestamp is outside the tolerance"}
	}
	signed := make([]byte, 0, len(id)+len(ts)+len(body)+2)
	signed = append(append(append(append(append(signed, id...), '.'), ts...), '.'), body...)
	for _, s := range v.secrets {
		expected := mac(s.key, signed)
		for _, entry := range strings.Fields(sigList) {
			version, b64, ok := strings.Cut(entry, ",")
			if !ok || version != "v1" {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				continue
			}
			if hmac.Equal(expected, got) {
				return nil
			}
		}
	}
	return &SignatureError{Reason: "invalid signature"}
}

func mac(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// SignEverShop returns the x-evershop-signature value for body: lowercase hex
// HMAC-SHA256. Senders (the EverShop bridge, the dev mode's curl, tests and
// benchmarks) use it.
func SignEverShop(secret Secret, body []byte) string {
	return hex.EncodeToString(mac(secret.key, body))
}

// SignStandard returns a Standard Webhooks webhook-signature value.
func SignStandard(secret Secret, id string, ts time.Time, body []byte) string {
	signed := fmt.Sprintf("%s.%d.%s", id, ts.Unix(), body)
	return "v1," + base64.StdEncoding.EncodeToString(mac(secret.key, []byte(signed)))
}
