package console

import (
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// personalKeys are JSON keys (lower case, without _ and -) whose values are
// personal data: masked unless the operator reveals them.
var personalKeys = []string{"email", "phone", "telephone", "mobile", "address", "street", "postcode", "zip", "city", "firstname", "lastname", "fullname", "customername", "billingname", "shippingname"}

// keySeparators is built once: building a Replacer per key was most of
// the cost of indexing a DLQ's error texts.
var keySeparators = strings.NewReplacer("_", "", "-", "")

func personal(key string, productEvent bool) bool {
	k := keySeparators.Replace(strings.ToLower(key))
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

// Error texts are free text: a downstream's answer, a wrapped parse error,
// the inbox quoting the address it refused. maskError hides in them what
// looks like personal data — e-mail addresses, phone numbers — and every
// personal value of the event's own body (known: the customer's name,
// e-mail, phone, address as the store sent them), unless the operator
// revealed them. Without the body (the event search lists many events)
// only the patterns apply.
var (
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+`)
	// International (+33 1 23 45 67 89) and North American (555-123-4567,
	// (555) 123 4567) forms; bare digit runs are ids and offsets, not phones.
	phoneRE = regexp.MustCompile(`\+\d[\d ().\-]{6,}\d|\(?\b\d{3}\)?[ .\-]\d{3}[ .\-]\d{4}\b`)
)

// minKnownValue is the shortest body value searched for in error texts:
// shorter ones ("NY", "Al") would mask parts of ordinary words.
const minKnownValue = 3

// maskError masks personal data in an error text (see above).
func maskError(text string, known []string) string {
	return compileKnown(known).mask(text)
}

// knownValues are a body's personal values with their patterns, compiled
// once per body rather than once per error text.
type knownValues []knownValue

type knownValue struct {
	v  string
	re *regexp.Regexp
}

// compileKnown compiles the values of personalValues, keeping their order.
func compileKnown(known []string) knownValues {
	out := make(knownValues, 0, len(known))
	for _, v := range known {
		out = append(out, knownValue{v: v, re: regexp.MustCompile(`(?i)` + regexp.QuoteMeta(v))}) // quoted: always compiles
	}
	return out
}

// mask masks personal data in an error text (see maskError).
func (k knownValues) mask(text string) string {
	if text == "" {
		return text
	}
	for _, kv := range k { // longest first (personalValues sorts them)
		text = maskWord(text, kv)
	}
	text = emailRE.ReplaceAllStringFunc(text, func(e string) string { return maskValue(e).(string) })
	return phoneRE.ReplaceAllString(text, "•••")
}

// personalValues lists the string values under personal keys of a JSON
// body, and the words of names, longest first, for maskError.
func personalValues(body []byte, productEvent bool) []string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	seen := map[string]bool{}
	add := func(s string) {
		if s = strings.TrimSpace(s); len(s) >= minKnownValue && utf8.ValidString(s) {
			seen[s] = true
		}
	}
	var walk func(v any, under bool, name bool)
	walk = func(v any, under, name bool) {
		switch t := v.(type) {
		case map[string]any:
			for k, x := range t {
				p := under || personal(k, productEvent)
				walk(x, p, name || (p && strings.Contains(strings.ToLower(k), "name")))
			}
		case []any:
			for _, x := range t {
				walk(x, under, name)
			}
		case string:
			if under {
				add(t)
				if name {
					for _, w := range strings.Fields(t) {
						add(w)
					}
				}
			}
		case json.Number:
			if under {
				add(t.String())
			}
		}
	}
	walk(v, false, false)
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}

func firstRune(s string) string {
	_, n := utf8.DecodeRuneInString(s)
	return s[:n]
}

// maskWord replaces every case-insensitive occurrence of v in text that
// stands as a whole word where v starts or ends with a letter or digit, so
// "Ana" masks "Ana" but not "Analytics" or "Anaïs".
func maskWord(text string, kv knownValue) string {
	v, re := kv.v, kv.re
	first, _ := utf8.DecodeRuneInString(v)
	last, _ := utf8.DecodeLastRuneInString(v)
	var b strings.Builder
	prev := 0
	for _, loc := range re.FindAllStringIndex(text, -1) {
		before, _ := utf8.DecodeLastRuneInString(text[:loc[0]])
		after, _ := utf8.DecodeRuneInString(text[loc[1]:])
		if loc[0] > 0 && wordRune(first) && wordRune(before) || loc[1] < len(text) && wordRune(last) && wordRune(after) {
			continue // part of a longer word
		}
		b.WriteString(text[prev:loc[0]])
		b.WriteString(firstRune(v) + "•••")
		prev = loc[1]
	}
	b.WriteString(text[prev:])
	return b.String()
}

func wordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }
