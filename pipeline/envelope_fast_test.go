package pipeline

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzEnvelopeFast: the fast path answers exactly as encoding/json does, or
// not at all.
func FuzzEnvelopeFast(f *testing.F) {
	files, _ := filepath.Glob("../testdata/webhooks/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"event":"order.updated","timestamp":"2026-01-02T03:04:05Z","data":{"order_id":7}}`,
		`{"Event":"order.updated","TIMESTAMP":"2026-01-02T03:04:05Z","data":{"id":"a","order_id":7},"webhook_id":"w1"}`,
		`{"event":"order.updated","timestamp":"2026-01-02T03:04:05Z","data":{"id":null,"uuid":" u "},"event":"order.created"}`,
		`{"event":"order.updated","timestamp":"2026-01-02T03:04:05Z","data":{"\u0069d":3,"id":[1]}}`,
		`{"event":"order.updated","timestamp":"2026-01-02T03:04:05Z","data":{"id":"x"}} {}`,
		`{"event":"order.updated","timestamp":"2026-01-02T03:04:05Z","data":{"id":"x"},"webhook_id":5}`,
		`{"event":"o\u0072der.updated","timestamp":"2026-01-02T03:04:05Z","data":{"id":-1.5e3}}`,
		`{"event":"order.updated","timestamp":"2026-01-02T03:04:05Z","data":{"id":"é"}}`,
		` {"event" : "order.updated" , "timestamp" : "2026-01-02T03:04:05Z" , "data" : { "id" : 12 , "x" : {"a":[1,{"b":"}"}]} } } `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := fastEnvelope(body)
		if ok {
			slow, err := decodeEnvelopeSlow(body)
			if err != nil {
				t.Fatalf("fast path accepted %q, encoding/json refused it: %v", body, err)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("envelope of %q:\nfast %#v\nslow %#v", body, fast, slow)
			}
			for _, kind := range []Kind{KindOrder, KindProduct, KindCustomer} {
				id, ok := fastEntityID(kind, fast.Data)
				if !ok {
					continue
				}
				want, err := EntityID(kind, fast.Data)
				if err != nil || id != want {
					t.Fatalf("%s id of %q: fast %q, encoding/json %q, %v", kind, fast.Data, id, want, err)
				}
			}
		}
		// Whatever path answers, the public functions keep their contract.
		for _, kind := range []Kind{KindOrder, KindProduct, KindCustomer} {
			a, errA := ParseEnvelope(kind, body)
			if env, err := decodeEnvelopeSlow(body); err == nil {
				if id, err := EntityID(kind, env.Data); err == nil && errA == nil && id != a.EntityID {
					t.Fatalf("%s id of %q: %q, encoding/json %q", kind, body, a.EntityID, id)
				}
			}
		}
	})
}
