package ingress

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadBody(t *testing.T) {
	for _, c := range []struct {
		name     string
		r        io.Reader
		declared int64
		want     string
		err      bool
	}{
		{"as declared", strings.NewReader(`{"a":1}`), 7, `{"a":1}`, false},
		{"as declared, one byte at a time", iotest.OneByteReader(strings.NewReader(`{"a":1}`)), 7, `{"a":1}`, false},
		{"unknown length", strings.NewReader(`{"a":1}`), -1, `{"a":1}`, false},
		{"longer than declared", strings.NewReader(`{"a":12345}`), 3, `{"a":12345}`, false},
		{"shorter than declared", strings.NewReader(`{"a"`), 7, "", true},
		{"read error", iotest.ErrReader(errors.New("boom")), 7, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := readBody(c.r, c.declared)
			if (err != nil) != c.err {
				t.Fatalf("err = %v, want error %v", err, c.err)
			}
			if !c.err && string(got) != c.want {
				t.Fatalf("body = %q, want %q", got, c.want)
			}
		})
	}
}
