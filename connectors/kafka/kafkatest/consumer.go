package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultReadTimeout bounds Read when the caller passes 0.
const DefaultReadTimeout = 20 * time.Second

// Consumer reads topics from their first offset, without a consumer group,
// so it sees everything a test wrote and commits nothing.
type Consumer struct {
	t  testing.TB
	cl *kgo.Client
}

// NewConsumer starts reading topics from the beginning. It is closed when
// the test ends.
func NewConsumer(t testing.TB, topics ...string) *Consumer {
	t.Helper()
	cl := NewClient(t,
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Answer a poll quickly when nothing is there: tests poll with
		// deadlines and should not wait out the default 5 s.
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	return &Consumer{t: t, cl: cl}
}

// Read returns the next n records, in per-partition order, or fails the
// test when fewer arrive within timeout (0 means DefaultReadTimeout).
// Records of different partitions come in no particular relative order.
func (c *Consumer) Read(n int, timeout time.Duration) []*kgo.Record {
	c.t.Helper()
	recs, err := c.TryRead(n, timeout)
	if err != nil {
		c.t.Fatal(err)
	}
	return recs
}

// TryRead is Read that reports a short read as an error, with the records
// it did get.
func (c *Consumer) TryRead(n int, timeout time.Duration) ([]*kgo.Record, error) {
	if timeout <= 0 {
		timeout = DefaultReadTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	var lastErr error
	for len(out) < n {
		fetches := c.cl.PollRecords(ctx, n-len(out))
		if ctx.Err() != nil {
			if lastErr != nil {
				return out, fmt.Errorf("read %d of %d records within %s (last fetch error: %v)", len(out), n, timeout, lastErr)
			}
			return out, fmt.Errorf("read %d of %d records within %s", len(out), n, timeout)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			// The client retries on its own (a topic that was just created,
			// a leader that moved); remember the error for the message.
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				lastErr = fmt.Errorf("%s[%d]: %v", topic, p, err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out, nil
}

// Client is the underlying client, for tests that need more.
func (c *Consumer) Client() *kgo.Client { return c.cl }

// ReadN reads the first n records of topics from the beginning.
func ReadN(t testing.TB, n int, topics ...string) []*kgo.Record {
	t.Helper()
	return NewConsumer(t, topics...).Read(n, 0)
}
