package pipeline

import (
	"bytes"
	"encoding/json"
	"html"
	"strconv"
	"strings"
	"unicode"
)

// DescriptionText flattens a product description to the plain text a
// customer reads, because the knowledge base indexes words, not markup.
//
// EverShop stores descriptions as Editor.js JSON laid out in rows → columns →
// data.blocks; older data and other senders use a classic {blocks: [...]}
// document, a plain string (possibly with HTML), a JSON string holding one of
// those, or null. Blocks become lines: paragraph, header and quote text,
// list items ("- item", "1. item", nested lists included), checklist items,
// table rows, captions, raw HTML. Inline HTML is stripped (<br> and block
// tags become line breaks), entities are decoded, runs of whitespace within
// a line collapse to one space and blank lines are dropped.
//
// Junk input yields "" or whatever text could be salvaged, never a panic.
func DescriptionText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	var t textLines
	if s, ok := v.(string); ok {
		// A JSON document serialised into a string (a row forwarded as
		// text) is still a document; anything else is text or HTML.
		trimmed := strings.TrimSpace(s)
		var doc any
		if strings.HasPrefix(trimmed, "[") || strings.HasPrefix(trimmed, "{") {
			if json.Unmarshal([]byte(trimmed), &doc) == nil {
				t.walk(doc)
			}
		}
		if len(t) == 0 {
			t.add(s)
		}
		return t.String()
	}
	t.walk(v)
	return t.String()
}

// textLines accumulates cleaned, non-empty lines.
type textLines []string

func (t textLines) String() string { return strings.Join(t, "\n") }

// walk finds blocks wherever the Editor.js layout nests them.
func (t *textLines) walk(v any) {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			t.walk(e)
		}
	case string:
		t.add(v)
	case map[string]any:
		if blocks, ok := v["blocks"].([]any); ok {
			for _, b := range blocks {
				if m, ok := b.(map[string]any); ok {
					t.block(m)
				}
			}
			return
		}
		if cols, ok := v["columns"]; ok {
			t.walk(cols)
			return
		}
		if _, ok := v["type"].(string); ok {
			t.block(v)
			return
		}
		if data, ok := v["data"]; ok {
			t.walk(data)
		}
	}
}

// block renders one Editor.js block by its type.
func (t *textLines) block(b map[string]any) {
	data, _ := b["data"].(map[string]any)
	if data == nil {
		return
	}
	typ, _ := b["type"].(string)
	typ = strings.ToLower(typ)
	switch typ {
	case "delimiter":
	case "list", "nestedlist", "checklist":
		ordered := data["style"] == "ordered"
		t.items(data["items"], ordered)
	case "table":
		rows, _ := data["content"].([]any)
		for _, r := range rows {
			cells, _ := r.([]any)
			var parts []string
			for _, c := range cells {
				if s, ok := c.(string); ok {
					if s = collapseSpaces(s); s != "" {
						parts = append(parts, s)
					}
				}
			}
			t.add(strings.Join(parts, " | "))
		}
	case "warning", "alert":
		t.field(data, "title")
		t.field(data, "message")
	case "raw":
		t.field(data, "html")
	case "code":
		t.field(data, "code")
	case "image", "embed", "video", "attaches":
		t.field(data, "caption")
	default: // paragraph, header, quote and unknown blocks with text
		t.field(data, "text")
		if typ == "quote" {
			t.field(data, "caption")
		}
	}
}

// items renders list items: strings, or {content|text, items} objects with
// nested lists (Editor.js nested list and checklist formats).
func (t *textLines) items(v any, ordered bool) {
	items, _ := v.([]any)
	n := 0
	for _, it := range items {
		var text string
		var nested any
		switch it := it.(type) {
		case string:
			text = it
		case map[string]any:
			text, _ = it["content"].(string)
			if text == "" {
				text, _ = it["text"].(string)
			}
			nested = it["items"]
		}
		if text = collapseSpaces(strings.ReplaceAll(htmlToText(text), "\n", " ")); text != "" {
			n++
			marker := "- "
			if ordered {
				marker = strconv.Itoa(n) + ". "
			}
			*t = append(*t, marker+text)
		}
		t.items(nested, ordered)
	}
}

func (t *textLines) field(data map[string]any, key string) {
	if s, ok := data[key].(string); ok {
		t.add(s)
	}
}

// add appends the lines of an HTML or text fragment.
func (t *textLines) add(s string) {
	for line := range strings.SplitSeq(htmlToText(s), "\n") {
		if line = collapseSpaces(line); line != "" {
			*t = append(*t, line)
		}
	}
}

// collapseSpaces collapses whitespace (including &nbsp; once decoded) and drops
// control characters.
func collapseSpaces(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
}

// lineBreakTags end a line where they appear; other tags vanish.
var lineBreakTags = map[string]bool{
	"br": true, "p": true, "div": true, "li": true, "ul": true, "ol": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"tr": true, "blockquote": true, "pre": true, "hr": true,
}

// htmlToText strips tags and decodes entities. A '<' that does not start a
// tag ("a < b", "<3") is kept as text. Entities are decoded after stripping,
// so an escaped "&lt;b&gt;" stays visible text. It is linear in len(s), so a
// hostile description of a megabyte of "<a" cannot stall the processor.
func htmlToText(s string) string {
	if !strings.ContainsAny(s, "<&") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i:]
		if len(s) < 2 || !isTagStart(s[1]) {
			b.WriteByte('<')
			s = s[1:]
			continue
		}
		end := strings.IndexByte(s, '>')
		if end < 0 { // no '>' left: no tag can follow, keep the rest as text
			b.WriteString(s)
			break
		}
		name := strings.TrimLeft(s[1:end], "/!")
		if j := strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || r == '/' }); j >= 0 {
			name = name[:j]
		}
		if lineBreakTags[strings.ToLower(name)] {
			b.WriteByte('\n')
		}
		s = s[end+1:]
	}
	return html.UnescapeString(b.String())
}

func isTagStart(c byte) bool {
	return c == '/' || c == '!' || (c|0x20 >= 'a' && c|0x20 <= 'z')
}
