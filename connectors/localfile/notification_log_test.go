package localfile

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// readLines parses every line of the log.
func readLines(t *testing.T, path string) []notificationLine {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer func() { must(t, f.Close()) }()
	var lines []notificationLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l notificationLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	must(t, sc.Err())
	return lines
}

func openLog(t *testing.T, path string, now func() time.Time) *NotificationLog {
	t.Helper()
	l, err := OpenNotificationLog(path, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { must(t, l.Close()) })
	return l
}

func note(id string) pipeline.Notification {
	return pipeline.Notification{EventID: id, Email: "ada@example.com", Text: "Your order #" + id + " has shipped.", Reason: "order.updated:shipped"}
}

func TestNotificationLogWritesOneLinePerEvent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev", "notifications.jsonl")
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	l := openLog(t, path, fixedClock(at))
	for _, id := range []string{"ev-1", "ev-2", "ev-1"} {
		if err := l.Notify(t.Context(), note(id)); err != nil {
			t.Fatal(err)
		}
	}
	got := readLines(t, path)
	want := []notificationLine{
		{EventID: "ev-1", To: "ada@example.com", Text: "Your order #ev-1 has shipped.", Reason: "order.updated:shipped", SentAt: at},
		{EventID: "ev-2", To: "ada@example.com", Text: "Your order #ev-2 has shipped.", Reason: "order.updated:shipped", SentAt: at},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("lines = %+v\nwant %+v", got, want)
	}
	raw, _ := os.ReadFile(path)
	for _, k := range []string{`"event_id"`, `"to"`, `"text"`, `"reason"`, `"sent_at"`} {
		if !strings.Contains(string(raw), k) {
			t.Errorf("line has no %s: %s", k, raw)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, %v; want 0600 (the file holds e-mail addresses)", fi.Mode(), err)
	}
}

func TestNotificationLogIdempotentAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notifications.jsonl")
	l := openLog(t, path, nil)
	must(t, l.Notify(t.Context(), note("ev-1")))
	must(t, l.Notify(t.Context(), note("ev-2")))
	must(t, l.Close())
	if err := l.Notify(t.Context(), note("ev-3")); err == nil {
		t.Error("Notify after Close succeeded")
	}
	must(t, l.Close()) // twice is fine

	// A crash mid-write leaves a torn last line; reopening drops it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.WriteString(`{"event_id":"ev-torn","to":"x@exa`)
	must(t, err)
	must(t, f.Close())

	l = openLog(t, path, nil)
	for _, id := range []string{"ev-1", "ev-2", "ev-torn", "ev-2", "ev-4"} {
		must(t, l.Notify(t.Context(), note(id)))
	}
	var ids []string
	for _, line := range readLines(t, path) {
		ids = append(ids, line.EventID)
	}
	if got, want := strings.Join(ids, ","), "ev-1,ev-2,ev-torn,ev-4"; got != want {
		t.Errorf("event ids in file = %s, want %s", got, want)
	}
}

func TestNotificationLogRefuses(t *testing.T) {
	l := openLog(t, filepath.Join(t.TempDir(), "n.jsonl"), nil)
	if err := l.Notify(t.Context(), pipeline.Notification{Email: "a@b.c"}); !pipeline.IsPermanent(err) {
		t.Errorf("Notify without event id = %v, want a permanent error", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := l.Notify(ctx, note("ev-1")); err == nil {
		t.Error("Notify with a cancelled context succeeded")
	}
	must(t, l.Notify(t.Context(), note("ev-1"))) // the refused attempt did not count as sent
}

func TestNotificationLogConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notifications.jsonl")
	l := openLog(t, path, nil)
	const workers, events = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			// Every worker sends every event, in its own order: each id
			// must still be written exactly once.
			for i := range events {
				id := fmt.Sprintf("ev-%d", (i+w*17)%events)
				if err := l.Notify(t.Context(), note(id)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, line := range readLines(t, path) {
		seen[line.EventID]++
	}
	if len(seen) != events {
		t.Errorf("%d distinct ids in file, want %d", len(seen), events)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s written %d times", id, n)
		}
	}
}
