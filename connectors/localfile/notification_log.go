package localfile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// NotificationLog is a pipeline.Notifier that appends one JSON line per
// message to a file, the local stand-in of the support inbox:
//
//	{"event_id":"...","to":"ada@example.com","text":"...","reason":"order.updated:shipped","sent_at":"..."}
//
// Like the inbox (Idempotency-Key), it is idempotent by event id: the
// processor delivers at least once, so the same notification can arrive
// again after a crash or rebalance, and must not be shown twice. The ids
// already in the file are read when it is opened, so this holds across
// restarts too. A line is fsynced before Notify returns, because the
// processor commits the event's offset right after.
//
// The file holds customers' e-mail addresses, so it is created readable by
// its owner only. A NotificationLog is safe for concurrent use.
type NotificationLog struct {
	path string
	now  func() time.Time

	mu     sync.Mutex
	f      *os.File
	size   int64               // length of the file's complete lines
	sent   map[string]struct{} // event ids in the file
	broken error               // set when a failed write could not be undone
}

// notificationLine is one line of the file.
type notificationLine struct {
	EventID string    `json:"event_id"`
	To      string    `json:"to"`
	Text    string    `json:"text"`
	Reason  string    `json:"reason"`
	SentAt  time.Time `json:"sent_at"`
}

// OpenNotificationLog opens (or creates) the log at path and loads the event
// ids it holds. A last line cut short by a crash is removed: it was never
// fsynced, so its Notify never returned success and will be delivered again.
// now stamps sent_at; nil means time.Now.
func OpenNotificationLog(path string, now func() time.Time) (*NotificationLog, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("notification log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("notification log: %w", err)
	}
	l := &NotificationLog{path: path, now: now, f: f, sent: make(map[string]struct{})}
	// The directory entry of a new file must be durable too, or the first
	// fsynced line could vanish with it.
	if err = l.load(); err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = f.Close() // the load or sync error is the one to report
		return nil, fmt.Errorf("notification log %s: %w", path, err)
	}
	return l, nil
}

// load reads the event ids of every complete line and drops a trailing
// partial one. Lines that are not JSON (edited by hand) are kept and ignored.
func (l *NotificationLog) load() error {
	r := bufio.NewReader(l.f)
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			break // line, if any, has no newline: a torn write
		}
		if err != nil {
			return err
		}
		var n struct {
			EventID string `json:"event_id"`
		}
		if json.Unmarshal(bytes.TrimSpace(line), &n) == nil && n.EventID != "" {
			l.sent[n.EventID] = struct{}{}
		}
		l.size += int64(len(line))
	}
	if err := l.f.Truncate(l.size); err != nil {
		return err
	}
	_, err := l.f.Seek(l.size, io.SeekStart)
	return err
}

// Notify appends n unless a line with its event id is already in the file.
// A notification without an event id cannot be made idempotent and is
// refused as permanent.
func (l *NotificationLog) Notify(ctx context.Context, n pipeline.Notification) error {
	if n.EventID == "" {
		return pipeline.Permanentf("notification log: notification without an event id")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	line, err := json.Marshal(notificationLine{
		EventID: n.EventID, To: n.Email, Text: n.Text, Reason: n.Reason, SentAt: l.now().UTC(),
	})
	if err != nil {
		return pipeline.Permanentf("notification log: encode: %w", err)
	}
	line = append(line, '\n')

	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.f == nil:
		return errors.New("notification log: closed")
	case l.broken != nil:
		return l.broken
	}
	if _, dup := l.sent[n.EventID]; dup {
		return nil
	}
	if err := l.append(line); err != nil {
		return fmt.Errorf("notification log %s: %w", l.path, err)
	}
	l.sent[n.EventID] = struct{}{}
	return nil
}

// append writes and fsyncs one line. On failure it cuts the file back to its
// last complete line, so a retry does not glue its line to a torn one; if
// even that fails, the log refuses further writes rather than corrupt the
// file.
func (l *NotificationLog) append(line []byte) error {
	_, err := l.f.Write(line)
	if err == nil {
		err = l.f.Sync()
	}
	if err == nil {
		l.size += int64(len(line))
		return nil
	}
	if terr := l.f.Truncate(l.size); terr != nil {
		l.broken = fmt.Errorf("notification log %s unusable after a failed write (%v): %w", l.path, err, terr)
		return l.broken
	}
	if _, serr := l.f.Seek(l.size, io.SeekStart); serr != nil {
		l.broken = fmt.Errorf("notification log %s unusable after a failed write (%v): %w", l.path, err, serr)
		return l.broken
	}
	return err
}

// Close closes the file. Notify fails afterwards; Close again is a no-op.
func (l *NotificationLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
