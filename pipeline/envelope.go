package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
)

// EnvelopeErrorKind separates a body that is not a webhook at all (400) from
// a well-formed webhook that this endpoint cannot accept (422).
type EnvelopeErrorKind int

const (
	Malformed EnvelopeErrorKind = iota + 1 // bad JSON or envelope: 400
	Invalid                                // wrong event for the endpoint, no entity id: 422
)

// EnvelopeError says why a webhook body was refused. Msg is safe to return
// to the sender.
type EnvelopeError struct {
	Kind EnvelopeErrorKind
	Msg  string
}

func (e *EnvelopeError) Error() string { return e.Msg }

func malformed(format string, args ...any) error {
	return &EnvelopeError{Kind: Malformed, Msg: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) error {
	return &EnvelopeError{Kind: Invalid, Msg: fmt.Sprintf(format, args...)}
}

// Envelope is the outer shape every webhook shares:
// {"event": "...", "timestamp": "RFC 3339", "data": {...}}, optionally with
// "webhook_id", the sender's stable id of the event (the EverShop bridge
// puts its outbox row id there, inside the bytes it signs).
type Envelope struct {
	Event     string
	Timestamp time.Time
	Data      json.RawMessage
	EntityID  string
	WebhookID string // "" when the body carries none
}

// BodyIDField is the envelope field that carries the sender's event id.
const BodyIDField = "webhook_id"

type rawEnvelope struct {
	Event     *string         `json:"event"`
	Timestamp *string         `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
	WebhookID json.RawMessage `json:"webhook_id"`
}

// ParseEnvelope validates body as a webhook for the endpoint of kind and
// extracts the entity id. It never modifies body.
func ParseEnvelope(kind Kind, body []byte) (Envelope, error) {
	env, err := decodeEnvelope(body)
	if err != nil {
		return Envelope{}, err
	}
	if !slices.Contains(EventTypes[kind], env.Event) {
		return Envelope{}, invalid("event %q is not accepted on the %s endpoint (want one of %s)",
			truncate(env.Event, 64), kind, strings.Join(EventTypes[kind], ", "))
	}
	if env.EntityID, err = dataEntityID(kind, env.Data); err != nil {
		return Envelope{}, err
	}
	return env, nil
}

// ParseAnyEnvelope parses a webhook whose endpoint is not known, such as a
// record an operator put back on a topic by hand: the kind comes from the
// event name.
func ParseAnyEnvelope(body []byte) (Kind, Envelope, error) {
	env, err := decodeEnvelope(body)
	if err != nil {
		return "", Envelope{}, err
	}
	kind, ok := KindOf(env.Event)
	if !ok {
		return "", Envelope{}, invalid("unknown event %q", truncate(env.Event, 64))
	}
	if env.EntityID, err = dataEntityID(kind, env.Data); err != nil {
		return "", Envelope{}, err
	}
	return kind, env, nil
}

func decodeEnvelope(body []byte) (Envelope, error) {
	if env, ok := fastEnvelope(body); ok {
		return env, nil
	}
	return decodeEnvelopeSlow(body)
}

// decodeEnvelopeSlow is the encoding/json reading of the envelope: every
// body the fast path is not sure about, and every error message.
func decodeEnvelopeSlow(body []byte) (Envelope, error) {
	var raw rawEnvelope
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Envelope{}, malformed("body is not a JSON object: %s", jsonErrorText(err))
	}
	// Anything but the end after the object is refused, a stray '}' or ']'
	// too (Decoder.More reports false for those).
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Envelope{}, malformed("body has data after the JSON object")
	}
	if raw.Event == nil || *raw.Event == "" {
		return Envelope{}, malformed(`envelope has no "event"`)
	}
	if raw.Timestamp == nil {
		return Envelope{}, malformed(`envelope has no "timestamp"`)
	}
	ts, err := time.Parse(time.RFC3339Nano, *raw.Timestamp)
	if err != nil {
		return Envelope{}, malformed(`"timestamp" is not RFC 3339: %q`, truncate(*raw.Timestamp, 64))
	}
	data := bytes.TrimSpace(raw.Data)
	if len(data) == 0 || data[0] != '{' {
		return Envelope{}, malformed(`"data" must be a JSON object`)
	}
	env := Envelope{Event: *raw.Event, Timestamp: ts, Data: raw.Data}
	if len(raw.WebhookID) > 0 && string(raw.WebhookID) != "null" {
		if raw.WebhookID[0] != '"' {
			return Envelope{}, malformed(`"%s" must be a string`, BodyIDField)
		}
		id, err := scalarID(raw.WebhookID)
		if err != nil {
			return Envelope{}, malformed(`"%s" %s`, BodyIDField, err)
		}
		env.WebhookID = id
	}
	return env, nil
}

// dataEntityID is EntityID for data that decodeEnvelope returned, which is
// valid JSON: the fast path first (envelope_fast.go).
func dataEntityID(kind Kind, data json.RawMessage) (string, error) {
	if id, ok := fastEntityID(kind, data); ok {
		return id, nil
	}
	return EntityID(kind, data)
}

// EntityID finds the entity id in a webhook's data: "id", else
// "product_id"/"order_id"/"customer_id" for the kind, else "uuid". Numbers
// are kept as written (42, not 42.0).
func EntityID(kind Kind, data json.RawMessage) (string, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return "", malformed(`"data" must be a JSON object`)
	}
	for _, name := range []string{"id", string(kind) + "_id", "uuid"} {
		v, ok := fields[name]
		if !ok || string(v) == "null" {
			continue
		}
		id, err := scalarID(v)
		if err != nil {
			return "", invalid("data.%s: %s", name, err)
		}
		return id, nil
	}
	return "", invalid("data has no entity id (id, %s_id or uuid)", kind)
}

// maxIDLen bounds ids used as Kafka keys and idempotency keys.
const maxIDLen = 200

func scalarID(v json.RawMessage) (string, error) {
	var id string
	switch {
	case len(v) > 0 && v[0] == '"':
		if err := json.Unmarshal(v, &id); err != nil {
			return "", fmt.Errorf("not a valid string")
		}
	case len(v) > 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')):
		id = string(v)
	default:
		return "", fmt.Errorf("must be a string or a number")
	}
	return checkID(id)
}

// checkID trims a decoded id and checks it is usable as a key.
func checkID(id string) (string, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return "", fmt.Errorf("is empty")
	}
	if len(id) > maxIDLen {
		return "", fmt.Errorf("is longer than %d bytes", maxIDLen)
	}
	if strings.IndexFunc(id, unicode.IsControl) >= 0 {
		return "", fmt.Errorf("contains control characters")
	}
	return id, nil
}

// EventID is the idempotency key of a webhook whose signature (if any)
// was checked under scheme. It comes from signed bytes only, so that a
// captured request re-posted with a new or added header is still the same
// event downstream:
//
//   - Standard Webhooks: the webhook-id header, which the signature covers;
//   - x-evershop-signature (and the unsigned development endpoint): the
//     envelope's "webhook_id", else the hex SHA-256 of the raw body.
//
// Unsigned headers (x-evershop-webhook-id, a webhook-id next to an
// x-evershop-signature) are never read.
func EventID(scheme string, h HeaderGetter, env Envelope, body []byte) (string, error) {
	if scheme == SchemeStandardWebhooks {
		v := strings.TrimSpace(h.Get(HeaderWebhookID))
		if v == "" || len(v) > maxIDLen || strings.IndexFunc(v, unicode.IsControl) >= 0 {
			return "", malformed("webhook-id must be 1 to %d printable bytes", maxIDLen)
		}
		return v, nil
	}
	if env.WebhookID != "" {
		return env.WebhookID, nil
	}
	return bodyHash(body), nil
}

// BodyEventID is the event id of a body on its own, for records that carry
// no event id header: the envelope's "webhook_id" when it has a valid one,
// else the hex SHA-256 of the body. For a body accepted under
// x-evershop-signature it equals EventID.
func BodyEventID(body []byte) string {
	if env, err := decodeEnvelope(body); err == nil && env.WebhookID != "" {
		return env.WebhookID
	}
	return bodyHash(body)
}

func bodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

func jsonErrorText(err error) string {
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	return truncate(err.Error(), 120)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
