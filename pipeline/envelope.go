package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
// {"event": "...", "timestamp": "RFC 3339", "data": {...}}.
type Envelope struct {
	Event     string
	Timestamp time.Time
	Data      json.RawMessage
	EntityID  string
}

type rawEnvelope struct {
	Event     *string         `json:"event"`
	Timestamp *string         `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
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
	if env.EntityID, err = EntityID(kind, env.Data); err != nil {
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
	if env.EntityID, err = EntityID(kind, env.Data); err != nil {
		return "", Envelope{}, err
	}
	return kind, env, nil
}

func decodeEnvelope(body []byte) (Envelope, error) {
	var raw rawEnvelope
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Envelope{}, malformed("body is not a JSON object: %s", jsonErrorText(err))
	}
	if dec.More() {
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
	return Envelope{Event: *raw.Event, Timestamp: ts, Data: raw.Data}, nil
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

// EventID is the idempotency key of a webhook: the webhook-id header, else
// x-evershop-webhook-id, else the hex SHA-256 of the raw body, so that a
// sender re-delivering the same bytes is recognised downstream.
func EventID(h HeaderGetter, body []byte) (string, error) {
	for _, name := range []string{HeaderWebhookID, HeaderEverShopWebhookID} {
		if v := strings.TrimSpace(h.Get(name)); v != "" {
			if len(v) > maxIDLen || strings.IndexFunc(v, unicode.IsControl) >= 0 {
				return "", malformed("%s must be at most %d printable bytes", strings.ToLower(name), maxIDLen)
			}
			return v, nil
		}
	}
	return BodyEventID(body), nil
}

// BodyEventID is the event id of a body that came without an id header.
func BodyEventID(body []byte) string {
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
