package sink

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/internal/clock"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// Reasons the sink gives on its own; a row the store refuses carries the
// store's reason (reasonOf). Every reason is a label value of
// shopstream_sink_quarantined_total, so the set must stay small.
const (
	reasonUndecodable = "undecodable"      // not the JSON of a pipeline.Outcome
	reasonNoEventID   = "missing_event_id" // JSON, without the key column
	reasonRejected    = "rejected"         // refused by a store that gave no reason
)

// rejection is a record of evershop.events the store will not hold, and why.
type rejection struct {
	rec    *kgo.Record
	reason string
	err    error
}

// reasoned is how a store names why it refused a row (the ClickHouse
// connector's RowError: type_mismatch, value_out_of_range, ...).
type reasoned interface{ QuarantineReason() string }

// reasonOf is the label of a store's refusal.
func reasonOf(err error) string {
	var r reasoned
	if errors.As(err, &r) && r.QuarantineReason() != "" {
		return r.QuarantineReason()
	}
	return reasonRejected
}

// quarantine writes each rejection to the quarantine topic and waits for
// the acknowledgement, retrying with backoff while Kafka does not give it;
// it returns an error only when ctx ends first.
func (s *Sink) quarantine(ctx context.Context, bad []rejection) error {
	if len(bad) == 0 {
		return nil
	}
	b := clock.NewBackoff(s.cfg.RetryMin, s.cfg.RetryMax)
	for _, rej := range bad {
		rec := quarantineRecord(s.cfg.QuarantineTopic, rej, s.cfg.Now())
		for {
			err := s.dlq.Produce(ctx, rec)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			wait := b.Next()
			s.log.Warn("quarantine write failed; retrying", "topic", rec.Topic, "retry_in", wait.String(), "error", err)
			if clock.Sleep(ctx, wait) != nil {
				return ctx.Err()
			}
		}
		s.m.quarantined.WithLabelValues(rej.reason).Inc()
		s.log.Debug("outcome record quarantined", "reason", rej.reason, "partition", rej.rec.Partition,
			"offset", rej.rec.Offset, "key", string(rej.rec.Key), "error", rej.err)
	}
	s.log.Error("outcome records quarantined: not in webhook_events until put back (alert ShopstreamSinkQuarantining)",
		"records", len(bad), "topic", s.cfg.QuarantineTopic, "first_reason", bad[0].reason,
		"first_partition", bad[0].rec.Partition, "first_offset", bad[0].rec.Offset, "first_error", bad[0].err)
	return nil
}

// quarantineRecord is what goes to topic for rej: the original key, value
// and headers byte for byte, plus where it was read and why it was set
// aside (replacing those headers if it had been quarantined before).
func quarantineRecord(topic string, rej rejection, now time.Time) *kgo.Record {
	src := rej.rec
	out := &kgo.Record{Topic: topic, Key: src.Key, Value: src.Value, Headers: slices.Clone(src.Headers)}
	kafka.SetHeader(out, schemas.HeaderOriginalTopic, src.Topic)
	kafka.SetHeader(out, schemas.HeaderOriginalPartition, strconv.Itoa(int(src.Partition)))
	kafka.SetHeader(out, schemas.HeaderOriginalOffset, strconv.FormatInt(src.Offset, 10))
	kafka.SetHeader(out, schemas.HeaderError, pipeline.TruncateError(rej.err))
	kafka.SetHeader(out, schemas.HeaderErrorReason, rej.reason)
	kafka.SetHeader(out, schemas.HeaderFailedAt, kafka.FormatTime(now))
	return out
}
