package alertdigest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/internal/clock"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// window is what an owner collected: the records to mark and, per channel,
// what to send.
type window struct {
	recs  []*kgo.Record
	items []item
}

// item is one alert for one channel (planned with the window's other
// alerts of that channel), or a digest for one channel (sent as it is).
// explicit items come from delivery records (released from the quiet
// hours, replayed from the DLQ): they are asked for by name and are sent
// even when this digester remembers the id (it deferred or forwarded it).
type item struct {
	channel  pipeline.AlertChannel
	alert    *pipeline.Alert
	digest   *pipeline.AlertDigest
	rec      *kgo.Record
	explicit bool
}

// add reads a record: an alert (for every configured channel) or a
// delivery for one channel (deferred by the quiet hours, or replayed from
// the DLQ). A record that is neither is marked with the window and left
// out.
func (w *window) add(d *Digester, r *kgo.Record) {
	w.recs = append(w.recs, r)
	if kafka.Header(r, schemas.HeaderEventType) == pipeline.AlertDeliveryType {
		m, err := pipeline.ParseAlertDelivery(r.Value)
		if err != nil {
			d.log.Warn("leaving out a record that is no alert delivery", "topic", r.Topic, "offset", r.Offset, "error", err)
			return
		}
		w.items = append(w.items, item{channel: m.Channel, alert: m.Alert, digest: m.Digest, rec: r, explicit: true})
		return
	}
	var a pipeline.Alert
	if err := json.Unmarshal(r.Value, &a); err != nil || a.ID == "" {
		d.log.Warn("leaving out a record that is no alert", "topic", r.Topic, "offset", r.Offset, "error", err)
		return
	}
	for _, ch := range d.cfg.Channels {
		w.items = append(w.items, item{channel: ch, alert: &a, rec: r})
	}
}

// message is one delivery of a window and the record it is accounted to
// (its first alert's), for the DLQ's origin headers.
type message struct {
	m      pipeline.AlertDelivery
	rec    *kgo.Record
	covers []string // alert ids it carries, remembered once delivered
}

// plan turns a window into its messages, channel by channel, leaving out
// what this digester already delivered on that channel.
func (o *owner) plan(win window) []message {
	var order []pipeline.AlertChannel
	byChannel := map[pipeline.AlertChannel][]item{}
	for _, it := range win.items {
		if _, ok := byChannel[it.channel]; !ok {
			order = append(order, it.channel)
		}
		byChannel[it.channel] = append(byChannel[it.channel], it)
	}
	var msgs []message
	left := 0
	for _, ch := range order {
		var alerts []pipeline.Alert
		recOf := map[string]*kgo.Record{}
		for _, it := range byChannel[ch] {
			switch {
			case !it.explicit && it.alert != nil && o.d.sent(ch, it.alert.ID):
				left++
			case it.digest != nil:
				msgs = append(msgs, message{m: pipeline.AlertDelivery{Channel: ch, Digest: it.digest}, rec: it.rec, covers: []string{it.digest.ID}})
			default:
				if _, dup := recOf[it.alert.ID]; !dup {
					recOf[it.alert.ID] = it.rec
				}
				alerts = append(alerts, *it.alert)
			}
		}
		singles, digest := pipeline.PlanDigest(o.rule, alerts)
		for i := range singles {
			a := singles[i]
			msgs = append(msgs, message{m: pipeline.AlertDelivery{Channel: ch, Alert: &a}, rec: recOf[a.ID], covers: []string{a.ID}})
		}
		if digest != nil {
			covers := []string{digest.ID}
			for _, a := range digest.Alerts {
				covers = append(covers, a.ID)
			}
			msgs = append(msgs, message{m: pipeline.AlertDelivery{Channel: ch, Digest: digest}, rec: recOf[digest.Alerts[0].ID], covers: covers})
			o.d.log.Info("alert digest", "digest", digest.ID, "channel", string(ch), "alerts", digest.Total)
		}
	}
	if left > 0 {
		o.d.log.Info("alert messages already delivered; left out of the window", "messages", left)
	}
	return msgs
}

func sentKey(ch pipeline.AlertChannel, id string) string { return string(ch) + "\x00" + id }

func (d *Digester) sent(ch pipeline.AlertChannel, id string) bool {
	_, ok := d.sentIDs.Get(sentKey(ch, id))
	return ok
}

// send delivers a window's messages. It returns only when the context
// ended (the window is then re-read by the next owner).
func (o *owner) send(win window) error {
	for _, msg := range o.plan(win) {
		if err := o.deliver(msg); err != nil {
			return err
		}
	}
	return nil
}

// deliver tries msg once on its channel. Accepted or deferred, it is
// remembered; failed, it is forwarded to a retry tier or the DLQ by the
// retry policy, and the forward itself is retried until the broker takes
// it (nothing is marked before). Each way ends in one outcome row.
func (o *owner) deliver(msg message) error {
	cfg, deps := o.d.cfg, o.d.deps
	start := cfg.Now()
	deferred, err := deps.Dispatch.Dispatch(o.ctx, msg.m, start)
	if err != nil && o.ctx.Err() != nil {
		return o.ctx.Err()
	}
	ev, everr := pipeline.AlertDeliveryEvent(msg.m, start)
	if everr != nil {
		o.d.log.Error("alert message cannot be encoded; left out", "id", msg.m.ID(), "error", everr)
		return nil
	}
	r := msg.rec
	dl := pipeline.Delivery{Event: ev, Attempt: 1, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		Origin: pipeline.Origin{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}}
	if err == nil {
		o.remember(msg)
		status := pipeline.StatusCompleted
		if deferred {
			status = pipeline.StatusDeferred
		}
		o.record(dl, status, nil, start)
		return nil
	}
	dec := cfg.Retry.Decide(pipeline.FailedAttempt{Err: err, Attempt: 1, Since: start, Now: start})
	wait := cfg.Backoff
	for {
		var ferr error
		if dec.DeadLetter {
			ferr = deps.Forwarder.DeadLetter(o.ctx, dl, fmt.Errorf("%s: %w", dec.Reason, err))
		} else {
			ferr = deps.Forwarder.Retry(o.ctx, dl, dec, err)
		}
		if ferr == nil {
			break
		}
		if o.ctx.Err() != nil {
			return o.ctx.Err()
		}
		o.d.log.Warn("alert delivery failed and could not be forwarded; retrying the forward", "id", msg.m.ID(), "retry_in", wait.String(), "error", ferr)
		if clock.Sleep(o.ctx, wait) != nil {
			return o.ctx.Err()
		}
		wait = min(2*wait, 30*time.Second)
	}
	// The tier or the DLQ owns it now: a copy re-published by a retried
	// product event does not start a second chain here.
	o.remember(msg)
	if dec.DeadLetter {
		o.d.log.Error("alert delivery dead-lettered", "id", msg.m.ID(), "reason", dec.Reason, "error", err)
		o.record(dl, pipeline.StatusDead, fmt.Errorf("%s: %w", dec.Reason, err), start)
		return nil
	}
	o.d.log.Warn("alert delivery failed; forwarded to a retry tier", "id", msg.m.ID(), "tier", dec.Tier+1, "error", err)
	o.record(dl, pipeline.StatusRetrying, err, start)
	return nil
}

// remember notes that msg's channel has it (delivered, deferred or
// forwarded).
func (o *owner) remember(msg message) {
	for _, id := range msg.covers {
		o.d.sentIDs.Put(sentKey(msg.m.Channel, id), struct{}{})
	}
}

func (o *owner) record(dl pipeline.Delivery, status pipeline.Status, cause error, start time.Time) {
	if o.d.deps.Recorder != nil {
		o.d.deps.Recorder.Record(pipeline.NewOutcome(dl, status, cause, start, o.d.cfg.Now()))
	}
}
