package console

import (
	"bytes"
	"encoding/json"
	"strings"
)

// personalKeys are JSON keys (lower case, without _ and -) whose values are
// personal data: masked unless the operator reveals them.
var personalKeys = []string{"email", "phone", "telephone", "mobile", "address", "street", "postcode", "zip", "city", "firstname", "lastname", "fullname", "customername", "billingname", "shippingname"}

func personal(key string, productEvent bool) bool {
	k := strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(key))
	if k == "name" {
		return !productEvent // a product's name is not personal; a person's is
	}
	for _, p := range personalKeys {
		if k == p || strings.HasSuffix(k, p) || (len(p) > 4 && strings.Contains(k, p)) {
			return true
		}
	}
	return false
}

// maskValue hides a personal value, keeping an e-mail's domain and the
// shape of the value so an operator can still tell two apart roughly.
func maskValue(v any) any {
	s, ok := v.(string)
	if !ok {
		if v == nil {
			return nil
		}
		if _, isObj := v.(map[string]any); isObj {
			return maskAll(v)
		}
		if _, isArr := v.([]any); isArr {
			return maskAll(v)
		}
		return "•••"
	}
	if s == "" {
		return s
	}
	if at := strings.LastIndexByte(s, '@'); at > 0 {
		return s[:1] + "•••" + s[at:]
	}
	return s[:1] + "•••"
}

// maskAll masks every leaf (an address object, say).
func maskAll(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = maskAll(x)
		}
		return t
	case []any:
		for i, x := range t {
			t[i] = maskAll(x)
		}
		return t
	default:
		return maskValue(v)
	}
}

func maskTree(v any, productEvent bool) (any, int) {
	n := 0
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if personal(k, productEvent) && x != nil && x != "" {
				t[k] = maskValue(x)
				n++
				continue
			}
			var m int
			t[k], m = maskTree(x, productEvent)
			n += m
		}
	case []any:
		for i, x := range t {
			var m int
			t[i], m = maskTree(x, productEvent)
			n += m
		}
	}
	return v, n
}

// prettyBody indents a JSON body, masking personal data unless reveal. It
// returns how many values it masked. A body that is not JSON is shown as
// text (masking cannot be trusted on it, so unless revealed it is hidden).
func prettyBody(body []byte, productEvent, reveal bool) (string, int) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if reveal {
			return string(body), 0
		}
		return "(the body is not JSON; reveal to see it as sent)", 1
	}
	n := 0
	if !reveal {
		v, n = maskTree(v, productEvent)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return string(body), 0
	}
	return string(out), n
}
