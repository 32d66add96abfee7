package pipeline

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// fixtureDescription is the description of product 42 in
// fixtures/evershop/admin-graphql-products.response.json.
const fixtureDescription = `[{"id":"b1","size":12,"columns":[{"id":"c1","size":12,"data":{"time":1,"blocks":[{"id":"p1","type":"paragraph","data":{"text":"Soft \"organic\" cotton,\nmachine washable."}}]}}]}]`

func TestDescriptionText(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"evershop rows and columns", fixtureDescription, "Soft \"organic\" cotton,\nmachine washable."},
		{"null", `null`, ""},
		{"empty", ``, ""},
		{"plain string", `"Product description"`, "Product description"},
		{"html string", `"<p>Hello&nbsp;&amp; <b>world</b></p><p>Line&nbsp;two</p>"`, "Hello & world\nLine two"},
		{"br becomes newline", `"one<br>two<br/>three<BR />four"`, "one\ntwo\nthree\nfour"},
		{"a lone < is text", `"a < b, <3 and x<y"`, "a < b, <3 and x<y"},
		{"escaped tags stay visible", `"use &lt;b&gt; for bold"`, "use <b> for bold"},
		{"whitespace collapsed, blank lines dropped", `"  a \t  b \n\n\n  c  "`, "a b\nc"},
		{"classic document", `{"time":1,"blocks":[
			{"type":"header","data":{"text":"Care","level":2}},
			{"type":"paragraph","data":{"text":"Wash <i>cold</i>."}},
			{"type":"delimiter","data":{}},
			{"type":"list","data":{"style":"unordered","items":["Cotton","Linen &amp; silk"]}},
			{"type":"quote","data":{"text":"Best shirt ever","caption":"A customer"}}]}`,
			"Care\nWash cold.\n- Cotton\n- Linen & silk\nBest shirt ever\nA customer"},
		{"ordered nested list", `{"blocks":[{"type":"list","data":{"style":"ordered","items":[
			{"content":"First","items":[{"content":"Inner <b>a</b>","items":[]}]},
			{"content":"Second","items":[]}]}}]}`,
			"1. First\n1. Inner a\n2. Second"},
		{"checklist, table, raw, image caption", `{"blocks":[
			{"type":"checklist","data":{"items":[{"text":"Soft","checked":true}]}},
			{"type":"table","data":{"content":[["Size","Chest"],["M","100 cm"]]}},
			{"type":"raw","data":{"html":"<div>Raw <span>html</span></div>"}},
			{"type":"image","data":{"file":{"url":"/x.png"},"caption":"Front view"}}]}`,
			"- Soft\nSize | Chest\nM | 100 cm\nRaw html\nFront view"},
		{"unknown block type with text", `{"blocks":[{"type":"callout","data":{"text":"Note"}}]}`, "Note"},
		{"document serialised into a string", `"{\"blocks\":[{\"type\":\"paragraph\",\"data\":{\"text\":\"Inside\"}}]}"`, "Inside"},
		{"bracketed text is text", `"[Limited] edition"`, "[Limited] edition"},
		{"unicode kept", `"Café — 100% коттон 🧵"`, "Café — 100% коттон 🧵"},
		{"junk array", `[1,2,{"x":true}]`, ""},
		{"junk object", `{"foo":1}`, ""},
		{"number", `42`, ""},
		{"invalid json", `{"blocks":[`, ""},
		{"blocks of the wrong type", `{"blocks":"nope"}`, ""},
		{"block data not an object", `{"blocks":[{"type":"paragraph","data":"x"},{"type":"list","data":{"items":"x"}}]}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := DescriptionText(json.RawMessage(tc.raw)); got != tc.want {
				t.Errorf("DescriptionText(%s)\n got %q\nwant %q", tc.raw, got, tc.want)
			}
		})
	}
}

func FuzzDescriptionText(f *testing.F) {
	for _, seed := range []string{
		fixtureDescription,
		`null`,
		`"<p>Hello&nbsp;&amp; <b>world</b></p>"`,
		`{"blocks":[{"type":"list","data":{"style":"ordered","items":[{"content":"a","items":[{"content":"b"}]}]}}]}`,
		`{"blocks":[{"type":"table","data":{"content":[["a","b"]]}}]}`,
		`"{\"blocks\":[]}"`,
		`"<a href='x'>link</a> &#x1F9F5; &bogus; <"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := DescriptionText(raw)
		if !utf8.ValidString(got) {
			t.Errorf("invalid UTF-8 in %q", got)
		}
		if got == "" {
			return
		}
		for line := range strings.SplitSeq(got, "\n") {
			if line == "" || strings.TrimSpace(line) != line || strings.Contains(line, "\r") {
				t.Errorf("badly cleaned line %q in %q", line, got)
			}
		}
	})
}

// BenchmarkDescriptionTextHostile renders a megabyte of '<' that never
// closes. htmlToText once rescanned the rest of the text for every '<'
// (seconds per call); it must stay linear (milliseconds).
func BenchmarkDescriptionTextHostile(b *testing.B) {
	for _, unit := range []string{"<a", "<1", "<a<1>"} {
		raw, _ := json.Marshal(strings.Repeat(unit, 1<<19/len(unit)*2))
		b.Run(unit, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				DescriptionText(raw)
			}
		})
	}
}

// BenchmarkDescriptionTextFixture is the common case: EverShop's layout.
func BenchmarkDescriptionTextFixture(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		DescriptionText(json.RawMessage(fixtureDescription))
	}
}
