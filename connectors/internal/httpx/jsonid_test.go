package httpx

import (
	"encoding/json"
	"testing"
)

func TestFlexID(t *testing.T) {
	tests := []struct {
		in    string
		id    FlexID
		idErr bool
		n     FlexInt
		nErr  bool
	}{
		{in: `"7400000000000000001"`, id: "7400000000000000001", n: 7400000000000000001},
		{in: `7400000000000000001`, id: "7400000000000000001", n: 7400000000000000001},
		{in: ` 42 `, id: "42", n: 42},
		{in: `null`, id: "", n: 0},
		{in: `"doc-1"`, id: "doc-1", nErr: true}, // an id, but not a count
		{in: `true`, idErr: true, nErr: true},
		{in: `{"id":1}`, idErr: true, nErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var id FlexID
			if err := json.Unmarshal([]byte(tt.in), &id); (err != nil) != tt.idErr || id != tt.id {
				t.Errorf("FlexID = %q, %v; want %q (error %v)", id, err, tt.id, tt.idErr)
			}
			var n FlexInt
			if err := json.Unmarshal([]byte(tt.in), &n); (err != nil) != tt.nErr || n != tt.n {
				t.Errorf("FlexInt = %d, %v; want %d (error %v)", n, err, tt.n, tt.nErr)
			}
		})
	}
}

func TestIDText(t *testing.T) {
	tests := []struct{ raw, want string }{
		{``, ""},
		{` `, ""},
		{`null`, ""},
		{`"conv-7"`, "conv-7"},
		{`17`, "17"},
		{` 17 `, "17"},
		{`true`, "true"},
		{`{"a":1}`, `{"a":1}`},
		{`"unterminated`, `"unterminated`},
	}
	for _, tt := range tests {
		if got := IDText(json.RawMessage(tt.raw)); got != tt.want {
			t.Errorf("IDText(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}
