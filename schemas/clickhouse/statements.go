package chschema

import "strings"

// SplitStatements splits a SQL script on the semicolons that end
// statements, skipping those inside quotes and comments. The native protocol
// accepts one statement per query, while a migration file may hold several.
// Statements left empty after removing comments are dropped, so a trailing
// semicolon or a comment-only tail yields nothing extra.
func SplitStatements(script string) []string {
	var (
		out   []string
		start int
		code  bool // the current statement has something besides comments
	)
	for i := 0; i < len(script); i++ {
		c := script[i]
		switch {
		case c == '-' && strings.HasPrefix(script[i:], "--"):
			i = skipTo(script, i+2, "\n") - 1
		case c == '/' && strings.HasPrefix(script[i:], "/*"):
			i = skipTo(script, i+2, "*/") - 1
		case c == '\'' || c == '"' || c == '`':
			i = SkipQuoted(script, i) - 1
			code = true
		case c == ';':
			if code {
				out = append(out, strings.TrimSpace(script[start:i]))
			}
			start, code = i+1, false
		case c != ' ' && c != '\t' && c != '\n' && c != '\r':
			code = true
		}
	}
	if code {
		out = append(out, strings.TrimSpace(script[start:]))
	}
	return out
}

// skipTo returns the index just past the next end marker at or after i, or
// len(s) if there is none.
func skipTo(s string, i int, end string) int {
	if j := strings.Index(s[i:], end); j >= 0 {
		return i + j + len(end)
	}
	return len(s)
}

// SkipQuoted returns the index just past the quoted string or identifier
// starting at i (s[i] is the quote: ', " or `), honouring backslash escapes
// and doubled quotes; len(s) when it is not closed.
func SkipQuoted(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}
