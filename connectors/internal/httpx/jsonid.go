package httpx

import (
	"encoding/json"
	"fmt"
	"strings"
)

// FlexID is an id that may arrive as a JSON string or as a bare number: an
// int64 id loses precision as a JSON number, so APIs send it as a string,
// but not every endpoint does. null decodes to "".
type FlexID string

func (f *FlexID) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*f = ""
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*f = FlexID(v)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("id %s is neither a string nor a number", s)
	}
	*f = FlexID(n.String())
	return nil
}

// FlexInt is a count that may arrive as a number or a numeric string; null
// decodes to 0.
type FlexInt int64

func (f *FlexInt) UnmarshalJSON(b []byte) error {
	var id FlexID
	if err := id.UnmarshalJSON(b); err != nil {
		return err
	}
	if id == "" {
		*f = 0
		return nil
	}
	v, err := json.Number(id).Int64()
	if err != nil {
		return err
	}
	*f = FlexInt(v)
	return nil
}

// IDText renders a raw JSON id for a URL path, a cache key or a log line: a
// string without its quotes, a number as written, null or nothing as "".
// Anything else is returned as its JSON text.
func IDText(raw json.RawMessage) string {
	var id FlexID
	if id.UnmarshalJSON(raw) == nil {
		return string(id)
	}
	return strings.TrimSpace(string(raw))
}
