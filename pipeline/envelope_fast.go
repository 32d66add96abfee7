package pipeline

import (
	"bytes"
	"encoding/json"
	"time"
)

// The ingress parses every webhook body, and encoding/json's reflection
// (a Decoder for the envelope, then a map for the entity id) was half the
// handler's CPU. The fast path below reads the common shape in one
// validation pass plus one scan of the top-level keys, without reflection:
// json.Valid first, so the scan may assume well-formed JSON, then the
// envelope's fields and data's id fields as byte ranges of body.
//
// It handles only what it can answer exactly like the encoding/json path:
// a body it is not sure about (invalid JSON, an escaped key, a field of an
// unexpected type, a key that matches only by case folding beyond ASCII)
// goes to that path, which also writes every error message. FuzzEnvelopeFast
// checks the two agree on arbitrary input.

// fastEnvelope is decodeEnvelope's fast path; ok false means "use the slow
// path", never "invalid".
func fastEnvelope(body []byte) (env Envelope, ok bool) {
	if !json.Valid(body) {
		return Envelope{}, false
	}
	obj := bytes.TrimSpace(body)
	if len(obj) == 0 || obj[0] != '{' {
		return Envelope{}, false
	}
	var event, timestamp, data, webhookID []byte
	var eventSet, timestampSet bool
	fine := eachField(obj, func(key, val []byte) bool {
		// encoding/json matches struct fields case-insensitively: accept
		// an ASCII case-insensitive match, hand anything else non-ASCII
		// to the slow path (it folds a few Unicode letters too).
		switch {
		case asciiFold(key, "event"):
			event, eventSet = val, true
		case asciiFold(key, "timestamp"):
			timestamp, timestampSet = val, true
		case asciiFold(key, "data"):
			data = val
		case asciiFold(key, BodyIDField):
			webhookID = val
		default:
			return isASCII(key)
		}
		return true
	})
	if !fine || !eventSet || !timestampSet {
		return Envelope{}, false
	}
	ev, okE := plainString(event)
	ts, okT := plainString(timestamp)
	if !okE || !okT || ev == "" {
		return Envelope{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || len(data) == 0 || data[0] != '{' {
		return Envelope{}, false
	}
	env = Envelope{Event: ev, Timestamp: t, Data: json.RawMessage(data)}
	if len(webhookID) > 0 && string(webhookID) != "null" {
		id, ok := plainString(webhookID)
		if !ok {
			return Envelope{}, false
		}
		if id, err = checkID(id); err != nil {
			return Envelope{}, false
		}
		env.WebhookID = id
	}
	return env, true
}

// fastEntityID is EntityID's fast path over data, already known to be a
// valid JSON object. Keys match exactly (it was a map), the last one wins.
func fastEntityID(kind Kind, data []byte) (string, bool) {
	names := [3]string{"id", string(kind) + "_id", "uuid"}
	var vals [3][]byte
	fine := eachField(bytes.TrimSpace(data), func(key, val []byte) bool {
		for i, n := range names {
			if string(key) == n {
				vals[i] = val
			}
		}
		return true
	})
	if !fine {
		return "", false
	}
	for _, v := range vals {
		if v == nil || string(v) == "null" {
			continue
		}
		var id string
		switch {
		case v[0] == '"':
			s, ok := plainString(v)
			if !ok {
				return "", false
			}
			id = s
		case v[0] == '-' || (v[0] >= '0' && v[0] <= '9'):
			id = string(v)
		default:
			return "", false
		}
		id, err := checkID(id)
		if err != nil {
			return "", false
		}
		return id, true
	}
	return "", false
}

// eachField calls fn with every key (as written, between its quotes) and
// value (trimmed) of the JSON object obj, which must be valid JSON. It
// stops and returns false when a key has an escape or fn returns false.
func eachField(obj []byte, fn func(key, val []byte) bool) bool {
	i := 1 // past '{'
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] == '}' {
			return true
		}
		if obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
		// A key: valid JSON guarantees a string here.
		end := stringEnd(obj, i)
		key := obj[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			return false
		}
		i = skipSpace(obj, end)
		i = skipSpace(obj, i+1) // past ':'
		vend := valueEnd(obj, i)
		if !fn(key, obj[i:vend]) {
			return false
		}
		i = vend
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the string that starts at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// valueEnd returns the index just past the value that starts at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	default: // number, true, false, null
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
		return j
	}
}

// plainString is the content of a JSON string of ASCII without escapes;
// ok false for anything else (escapes and non-ASCII text are decoded by
// encoding/json, which also replaces invalid UTF-8: left to it).
func plainString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	s := v[1 : len(v)-1]
	if bytes.IndexByte(s, '\\') >= 0 || !isASCII(s) {
		return "", false
	}
	return string(s), true
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// asciiFold reports whether key equals name (lower-case ASCII) ignoring
// ASCII case; a key with non-ASCII bytes never matches here.
func asciiFold(key []byte, name string) bool {
	if len(key) != len(name) {
		return false
	}
	for i := range key {
		c := key[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}
