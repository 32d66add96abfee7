package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/consume"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// dlqCluster is a kfake broker holding the DLQ records given as (event id,
// order id, error, attempts, failed minutes ago).
func dlqCluster(t *testing.T, letters ...[5]string) kafka.Config {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, schemas.TopicDLQ, schemas.TopicOrder))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := kafka.DefaultConfig()
	cfg.Brokers = c.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	now := time.Now()
	for _, l := range letters {
		body := fmt.Sprintf(`{"event":"order.updated","timestamp":"2026-12-03T06:00:00Z","data":{"order_id":%s,"customer_email":"a@example.com","status":"shipped"}}`, l[1])
		ago, _ := strconv.Atoi(l[4])
		rec := &kgo.Record{Topic: schemas.TopicDLQ, Key: []byte(l[1]), Value: []byte(body), Headers: []kgo.RecordHeader{
			{Key: schemas.HeaderEventID, Value: []byte(l[0])},
			{Key: schemas.HeaderEventType, Value: []byte(pipeline.OrderUpdated)},
			{Key: schemas.HeaderOriginalTopic, Value: []byte(schemas.TopicOrder)},
			{Key: schemas.HeaderError, Value: []byte(l[2])},
			{Key: schemas.HeaderAttempts, Value: []byte(l[3])},
			{Key: schemas.HeaderFailedAt, Value: []byte(kafka.FormatTime(now.Add(-time.Duration(ago) * time.Minute)))},
		}}
		if err := cl.ProduceSync(t.Context(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

func replayClient(t *testing.T, cfg kafka.Config) *kgo.Client {
	t.Helper()
	cl, err := kafka.NewClient(cfg, "test", slog.New(slog.DiscardHandler), nil, ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func orderIDs(t *testing.T, cfg kafka.Config) []string {
	t.Helper()
	cl := replayClient(t, cfg)
	var ids []string
	snap, err := consume.TakeSnapshot(t.Context(), kadm.NewClient(cl), schemas.TopicOrder, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = snap.Read(t.Context(), cl, func(r *kgo.Record) error {
		if kafka.Header(r, schemas.HeaderReplayedAt) == "" {
			return fmt.Errorf("%s has no replayed-at header", r.Key)
		}
		ids = append(ids, kafka.Header(r, schemas.HeaderEventID))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestListFiltersLikeReplay(t *testing.T) {
	cfg := dlqCluster(t,
		[5]string{"e1", "1", "inbox: 400 unknown user", "1", "180"},
		[5]string{"e2", "2", "inbox: 400 unknown user", "1", "30"},
		[5]string{"e3", "3", "inbox: 503 max age", "9", "20"},
		[5]string{"e2", "2", "inbox: 400 unknown user", "1", "10"},
	)
	cl := replayClient(t, cfg)
	all, err := List(t.Context(), cl, pipeline.ReplayFilter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if all.Total != 4 || all.Matched != 4 || all.Letters[0].Event.ID != "e2" || all.Letters[3].Event.ID != "e1" {
		t.Fatalf("list %+v", all)
	}
	if d := all.Letters[0]; d.OriginalTopic != schemas.TopicOrder || d.Attempts != 1 || d.Event.EntityID != "2" || d.Error != "inbox: 400 unknown user" {
		t.Errorf("letter %+v", d)
	}
	f := pipeline.ReplayFilter{ErrorContains: "UNKNOWN", Since: time.Now().Add(-time.Hour)}
	got, err := List(t.Context(), replayClient(t, cfg), f, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Matched != 2 || len(got.Letters) != 1 {
		t.Errorf("filtered %d matched, %d listed", got.Matched, len(got.Letters))
	}
	if got, _ := List(t.Context(), replayClient(t, cfg), pipeline.ReplayFilter{MinAttempts: 5}, 0); got.Matched != 1 || got.Letters[0].Event.ID != "e3" {
		t.Errorf("attempts filter %+v", got.Letters)
	}
	d := all.Letters[2]
	r, err := ReadAt(t.Context(), replayClient(t, cfg), schemas.TopicDLQ, d.Partition, d.Offset)
	if err != nil || FromRecord(r).Event.ID != d.Event.ID {
		t.Fatalf("read at %d/%d: %v", d.Partition, d.Offset, err)
	}
	if _, err := ReadAt(t.Context(), replayClient(t, cfg), schemas.TopicDLQ, d.Partition, 99); err == nil {
		t.Error("an offset past the end was read")
	}
}

func TestStatelessReplaySkipsDeliveredAndRepeats(t *testing.T) {
	cfg := dlqCluster(t,
		[5]string{"e1", "1", "inbox: 400", "1", "50"},
		[5]string{"e2", "2", "inbox: 400", "1", "40"},
		[5]string{"e3", "3", "inbox: 400", "1", "30"},
		[5]string{"e2", "2", "inbox: 400", "1", "20"},
	)
	delivered := func(ev pipeline.Event) bool { return ev.ID == "e3" }
	ctx := context.Background()
	dry, err := Run(ctx, replayClient(t, cfg), Config{Stateless: true, DryRun: true, Skip: delivered})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Replayed != 2 || dry.Delivered != 1 || dry.Skipped != 1 || dry.Total != 4 {
		t.Fatalf("dry run %+v", dry)
	}
	if ids := orderIDs(t, cfg); len(ids) != 0 {
		t.Fatalf("the dry run produced %v", ids)
	}
	prog, err := Run(ctx, replayClient(t, cfg), Config{Stateless: true, Skip: delivered})
	if err != nil {
		t.Fatal(err)
	}
	if prog.Replayed != 2 || prog.Failed != 0 {
		t.Fatalf("replay %+v", prog)
	}
	ids := orderIDs(t, cfg)
	if len(ids) != 2 {
		t.Fatalf("replayed %v", ids)
	}
	// Stateless: nothing committed, so the command line's group still sees
	// all four, and a second console run replays again.
	offs, err := kadm.NewClient(replayClient(t, cfg)).FetchOffsets(ctx, schemas.GroupReplay)
	if err == nil && len(offs) > 0 {
		t.Errorf("a stateless run committed %v", offs)
	}
	again, _ := Run(ctx, replayClient(t, cfg), Config{Stateless: true, DryRun: true, Filter: pipeline.ReplayFilter{EventIDs: []string{"e3"}}})
	if again.Replayed != 1 {
		t.Errorf("force of the delivered one: %+v", again)
	}
}

func TestListHoldsOnlyTheNewestLimit(t *testing.T) {
	base := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	var all []DeadLetter
	// Failed-at times out of order, with ties (read order breaks them).
	for i := range 500 {
		at := base.Add(time.Duration((i*7919)%250) * time.Second)
		all = append(all, DeadLetter{Offset: int64(i), FailedAt: at, Event: pipeline.Event{ID: strconv.Itoa(i), Body: []byte(`{}`)}})
	}
	want := append([]DeadLetter(nil), all...)
	sort.SliceStable(want, func(i, j int) bool { return want[i].FailedAt.After(want[j].FailedAt) })
	for _, limit := range []int{0, 1, 7, 200, 499, 500, 800} {
		keep := Newest[DeadLetter]{Limit: limit, At: func(d DeadLetter) time.Time { return d.FailedAt }}
		for _, d := range all {
			keep.Add(d)
			if limit > 0 && keep.Len() > limit {
				t.Fatalf("limit %d: holds %d", limit, keep.Len())
			}
		}
		got := keep.Sorted()
		n := len(want)
		if limit > 0 && limit < n {
			n = limit
		}
		if len(got) != n {
			t.Fatalf("limit %d: %d letters", limit, len(got))
		}
		for i := range got {
			if got[i].Offset != want[i].Offset {
				t.Fatalf("limit %d: letter %d is offset %d, want %d", limit, i, got[i].Offset, want[i].Offset)
			}
		}
	}
}

func TestEachStreamsEveryMatch(t *testing.T) {
	var letters [][5]string
	for i := range 40 {
		letters = append(letters, [5]string{"e" + strconv.Itoa(i), strconv.Itoa(i + 1), "inbox: 400", strconv.Itoa(1 + i%3), strconv.Itoa(100 - i)})
	}
	cfg := dlqCluster(t, letters...)
	seen := map[string]bool{}
	total, err := Each(t.Context(), replayClient(t, cfg), pipeline.ReplayFilter{MinAttempts: 3}, func(d DeadLetter) error {
		if d.Attempts < 3 {
			t.Errorf("%s (attempts %d) passed the filter", d.Event.ID, d.Attempts)
		}
		seen[d.Event.ID] = true
		return nil
	})
	if err != nil || total != 40 || len(seen) != 13 {
		t.Fatalf("each: total %d, %d matched, %v", total, len(seen), err)
	}
	got, err := List(t.Context(), replayClient(t, cfg), pipeline.ReplayFilter{MinAttempts: 3}, 5)
	if err != nil || got.Matched != 13 || got.Total != 40 || len(got.Letters) != 5 {
		t.Fatalf("list: %d matched of %d, %d listed, %v", got.Matched, got.Total, len(got.Letters), err)
	}
	for i, id := range []string{"e38", "e35", "e32", "e29", "e26"} { // failed the least minutes ago
		if got.Letters[i].Event.ID != id {
			t.Errorf("letter %d is %s, want %s", i, got.Letters[i].Event.ID, id)
		}
	}
	stop := errors.New("enough")
	n := 0
	_, err = Each(t.Context(), replayClient(t, cfg), pipeline.ReplayFilter{}, func(DeadLetter) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("a callback error: %v after %d", err, n)
	}
}

// A Tally given the DLQ's letters counts what a stateless dry run counts.
func TestTallyCountsAsAStatelessDryRun(t *testing.T) {
	cfg := dlqCluster(t,
		[5]string{"e1", "1", "inbox: 400", "1", "50"},
		[5]string{"e2", "2", "inbox: 503", "4", "40"},
		[5]string{"e1", "1", "inbox: 400", "2", "30"}, // died twice
		[5]string{"e3", "3", "inbox: 400", "1", "20"},
		[5]string{"e4", "4", "inbox: 400", "3", "10"},
	)
	skip := func(ev pipeline.Event) bool { return ev.ID == "e3" }
	for _, f := range []pipeline.ReplayFilter{{}, {ErrorContains: "400"}, {MinAttempts: 2}, {EventIDs: []string{"e1", "e3"}}} {
		rc := Config{Filter: f, Skip: skip}
		want, err := Run(t.Context(), replayClient(t, cfg), Config{Filter: f, Skip: skip, Stateless: true, DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		var all []DeadLetter
		total, err := Each(t.Context(), replayClient(t, cfg), pipeline.ReplayFilter{}, func(d DeadLetter) error { all = append(all, d); return nil })
		if err != nil {
			t.Fatal(err)
		}
		tally := NewTally(rc, total)
		for _, d := range all {
			tally.Add(d)
		}
		if got := tally.Progress(); got != want {
			t.Errorf("filter %+v: tally %+v, dry run %+v", f, got, want)
		}
	}
}
