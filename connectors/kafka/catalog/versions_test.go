package catalog

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/pipeline"
)

// versioned is a product event stamped updated_at = t0+upd seconds.
func versioned(typ string, id, upd int, name string) pipeline.Event {
	at := time.Date(2026, 11, 20, 9, 0, upd, 0, time.UTC).Format(time.RFC3339)
	data := fmt.Sprintf(`{"id":%d,"name":%q,"updated_at":%q}`, id, name, at)
	if typ == pipeline.ProductDeleted {
		data = fmt.Sprintf(`{"id":%d,"updated_at":%q}`, id, at)
	}
	ev := csEvent(typ, data)
	ev.EntityID = fmt.Sprint(id)
	return ev
}

func endOffsetSum(t *testing.T, cl *kgo.Client, topic string) int64 {
	t.Helper()
	ends, err := kadm.NewClient(cl).ListEndOffsets(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// TestStateNeverGoesBackwards: an older product event applied after a newer
// one (a DLQ replay, a late retry) writes nothing and changes nothing, and
// neither does an update older than a delete. A second process (the next
// owner after a rebalance) knows the versions from the topic.
func TestStateNeverGoesBackwards(t *testing.T) {
	s, prod, topic := csNewState(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Apply(t.Context(), versioned(pipeline.ProductUpdated, 1, 20, "v20")))
	must(s.Apply(t.Context(), versioned(pipeline.ProductUpdated, 2, 20, "v20")))
	must(s.Apply(t.Context(), versioned(pipeline.ProductDeleted, 2, 30, "")))
	written := endOffsetSum(t, prod.Client(), topic)

	must(s.Apply(t.Context(), versioned(pipeline.ProductUpdated, 1, 10, "v10 replayed"))) // older
	must(s.Apply(t.Context(), versioned(pipeline.ProductUpdated, 2, 25, "v25 replayed"))) // older than the delete
	if n := endOffsetSum(t, prod.Client(), topic); n != written {
		t.Errorf("older events wrote %d records, want none", n-written)
	}
	got := csReadAll(t, s)
	if len(got) != 1 || got[0].ID != "1" || got[0].Name != "v20" {
		t.Fatalf("Products = %+v, want only product 1 at v20", got)
	}

	// The next owner of the partitions, in another process: it loads a
	// partition's versions at its first write there.
	next := NewState(prod.Client(), s.readCfg, topic, nil)
	must(next.Apply(t.Context(), versioned(pipeline.ProductUpdated, 1, 15, "v15 replayed")))
	if n := endOffsetSum(t, prod.Client(), topic); n != written {
		t.Errorf("the next owner wrote an older event")
	}
	must(next.Apply(t.Context(), versioned(pipeline.ProductUpdated, 1, 40, "v40")))
	if got := csReadAll(t, next); len(got) != 1 || got[0].Name != "v40" {
		t.Fatalf("Products = %+v, want product 1 at v40", got)
	}

	// The first owner lost the partitions meanwhile and got them back: it
	// must not trust what it knew before (v20).
	for p := range int32(3) {
		s.OnRevoked(t.Context(), s.source, p)
	}
	must(s.Apply(t.Context(), versioned(pipeline.ProductUpdated, 1, 30, "v30 replayed")))
	if got := csReadAll(t, s); len(got) != 1 || got[0].Name != "v40" {
		t.Fatalf("Products = %+v, want product 1 still at v40", got)
	}
}

// TestStateFoldKeepsNewest: records written out of version order (by a
// writer that did not check, e.g. an older shopstream) are read newest
// first, whatever their offsets.
func TestStateFoldKeepsNewest(t *testing.T) {
	s, prod, topic := csNewState(t)
	write := func(id string, upd int, name string, deleted bool) {
		t.Helper()
		sp := stateProduct{ID: id, Name: name, Deleted: deleted}
		sp.setVersion(pipeline.ProductVersion{UpdatedAt: time.Date(2026, 1, 1, 0, 0, upd, 0, time.UTC), ReceivedAt: time.Now()})
		v, _ := json.Marshal(sp)
		if err := prod.Produce(t.Context(), &kgo.Record{Topic: topic, Key: []byte(id), Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	write("1", 5, "new", false)
	write("1", 3, "old", false)
	write("2", 5, "", true)
	write("2", 4, "resurrected", false)
	write("3", 1, "legacy", false)
	if err := prod.Produce(t.Context(), &kgo.Record{Topic: topic, Key: []byte("3"), Value: []byte(`{"id":"3","name":"unversioned"}`)}); err != nil {
		t.Fatal(err)
	}
	got := csReadAll(t, s)
	if len(got) != 2 || got[0].Name != "new" || got[1].Name != "unversioned" {
		t.Fatalf("Products = %+v, want 1=new and 3=unversioned (an unversioned record applies by offset)", got)
	}
}
