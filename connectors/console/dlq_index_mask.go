package console

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// shownError is maskError(text, personalValues(body, product)), without
// parsing the body when none of its values can occur in text, and with the
// patterns' answer (a function of the text alone) cached: dead letters
// share a few error texts.
func (x *DeadLetterIndex) shownError(text string, body []byte, product bool) string {
	if text == "" {
		return text
	}
	if bodyCouldName(text, body) {
		return maskError(text, couldMatch(text, personalValues(body, product)))
	}
	if s, ok := x.patterns[text]; ok {
		return s
	}
	s := maskError(text, nil)
	if len(x.patterns) < 4096 {
		x.patterns[text] = s
	}
	return s
}

// bodyCouldName reports whether a value of body may occur in text, so that
// maskError needs the body's values. It answers false only when text and
// body are ASCII and body has no escape: then every value personalValues
// finds (3 bytes or more) is the body's own bytes, starting after a quote,
// a blank, ':', ',' or '[', and a text holding it holds its first three
// bytes, case aside.
func bodyCouldName(text string, body []byte) bool {
	if !isASCII(text) || !isASCII(string(body)) || bytes.IndexByte(body, '\\') >= 0 {
		return true
	}
	lt := []byte(strings.ToLower(text))
	lb := bytes.ToLower(body)
	for p := 0; p+3 <= len(lb); p++ {
		if p > 0 && !bytes.ContainsRune([]byte("\" \t\n\r:,["), rune(lb[p-1])) {
			continue
		}
		if bytes.Contains(lt, lb[p:p+3]) {
			return true
		}
	}
	return false
}

// couldMatch keeps the known values that may occur in text, so that
// maskError compiles a pattern only for those (it compiles one per value;
// over a whole DLQ that was most of the first load). maskError gives the
// same text with them as with all: an ASCII value matches an ASCII text
// (case-insensitively) only if the lower-cased text contains it, and what
// maskError writes in place of a value ("A•••") adds no ASCII substring
// the text did not have. Non-ASCII texts and values are all kept.
func couldMatch(text string, known []string) []string {
	if !isASCII(text) {
		return known
	}
	lower := strings.ToLower(text)
	var out []string
	for _, v := range known {
		if !isASCII(v) || strings.Contains(lower, strings.ToLower(v)) {
			out = append(out, v)
		}
	}
	return out
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
