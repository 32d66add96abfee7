package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// AlertDeliveryType is the event type of an alert message on its way to one
// channel: the record the digest owner forwards to a retry tier, the DLQ or
// the deferred topic when a channel fails or is quiet. Its value is the
// AlertDelivery as JSON (not a webhook envelope), its key the message id.
const AlertDeliveryType = "alert.delivery"

// AlertChannel names one of the store team's channels.
type AlertChannel string

const (
	ChannelInbox   AlertChannel = "inbox"   // the staff conversation of the support inbox
	ChannelWebhook AlertChannel = "webhook" // the outgoing webhook
)

// AlertDelivery is one alert message (a single alert or a digest) for one
// channel. Each channel is delivered, retried and dead-lettered on its own,
// so a webhook that fails never re-posts to the inbox and the other way
// round; the message id (alert or digest id) is the channel's idempotency
// key on every attempt.
type AlertDelivery struct {
	Channel AlertChannel `json:"channel"`
	Alert   *Alert       `json:"alert,omitempty"`
	Digest  *AlertDigest `json:"digest,omitempty"`
}

// MessageID is the alert's or the digest's id.
func (m AlertDelivery) MessageID() string {
	if m.Digest != nil {
		return m.Digest.ID
	}
	if m.Alert != nil {
		return m.Alert.ID
	}
	return ""
}

// ID is the delivery's event id: the message id and the channel, so the
// processor's dedupe and the outcome rows tell the channels apart.
func (m AlertDelivery) ID() string { return m.MessageID() + "@" + string(m.Channel) }

// Trigger is the alert's trigger, or "digest".
func (m AlertDelivery) Trigger() string {
	if m.Digest != nil {
		return "digest"
	}
	if m.Alert != nil {
		return string(m.Alert.Trigger)
	}
	return ""
}

// Validate reports a delivery that can never be sent (Permanent).
func (m AlertDelivery) Validate() error {
	switch {
	case m.Channel != ChannelInbox && m.Channel != ChannelWebhook:
		return Permanentf("alert delivery: unknown channel %q", m.Channel)
	case (m.Alert == nil) == (m.Digest == nil):
		return Permanentf("alert delivery: exactly one of alert and digest is required")
	case m.MessageID() == "":
		return Permanentf("alert delivery: message without id")
	}
	return nil
}

// AlertDeliveryEvent is the event that carries m through the retry tiers:
// received at since (the start of its retry budget).
func AlertDeliveryEvent(m AlertDelivery, since time.Time) (Event, error) {
	if err := m.Validate(); err != nil {
		return Event{}, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return Event{}, Permanentf("alert delivery %s: encode: %w", m.ID(), err)
	}
	return Event{ID: m.ID(), Type: AlertDeliveryType, EntityID: m.MessageID(), Timestamp: since, ReceivedAt: since, Body: b}, nil
}

// ParseAlertDelivery decodes a delivery's record value; a value that is
// none is Permanent.
func ParseAlertDelivery(body []byte) (AlertDelivery, error) {
	var m AlertDelivery
	if err := json.Unmarshal(body, &m); err != nil {
		return m, Permanentf("alert delivery: %w", err)
	}
	return m, m.Validate()
}

// AlertDeliverer sends one delivery to its channel; nil means the channel
// accepted it. Errors are classified (Permanent, Retryable).
type AlertDeliverer interface {
	Deliver(ctx context.Context, m AlertDelivery) error
}

// AlertDeferrer makes a delivery durable until a later time (the end of
// the quiet hours), when it is delivered again.
type AlertDeferrer interface {
	Defer(ctx context.Context, m AlertDelivery, until time.Time) error
}

// AlertDispatch delivers alert messages, holding the webhook (what wakes
// people) back during quiet hours: a webhook delivery that falls in them
// is deferred to their end instead of being sent or dropped. A digest
// whose alerts are known is deferred alert by alert, so the alerts of a
// night become one digest in the morning.
type AlertDispatch struct {
	Channels AlertDeliverer
	Defer    AlertDeferrer // nil: quiet hours are not applied
	Quiet    QuietHours
}

// ErrNoAlertChannels is returned when a delivery arrives where no channel
// is configured.
var ErrNoAlertChannels = errors.New("alert delivery: no alert channels configured here")

// Dispatch delivers m now, or defers it when its channel is quiet at now.
// deferred reports the latter.
func (a *AlertDispatch) Dispatch(ctx context.Context, m AlertDelivery, now time.Time) (deferred bool, err error) {
	if a == nil || a.Channels == nil {
		return false, Permanent(ErrNoAlertChannels)
	}
	if err := m.Validate(); err != nil {
		return false, err
	}
	if m.Channel == ChannelWebhook && a.Defer != nil && a.Quiet.Contains(now) {
		until := a.Quiet.NextEnd(now)
		parts := []AlertDelivery{m}
		if m.Digest != nil && len(m.Digest.Alerts) > 0 {
			parts = parts[:0]
			for i := range m.Digest.Alerts {
				parts = append(parts, AlertDelivery{Channel: m.Channel, Alert: &m.Digest.Alerts[i]})
			}
		}
		for _, p := range parts {
			if err := a.Defer.Defer(ctx, p, until); err != nil {
				return false, fmt.Errorf("defer %s to %s: %w", p.ID(), until.Format(time.RFC3339), err)
			}
		}
		return true, nil
	}
	return false, a.Channels.Deliver(ctx, m)
}

// NextEnd is the end of the quiet hours t falls in or, outside them, of the
// next ones: the first instant after t at which Contains turns false after
// having been true — the time a delivery deferred at t is due. It walks whole
// minutes (a window's edges and every zone change fall on one) rather than
// building the end's wall-clock time with time.Date, so it agrees with
// Contains across daylight-saving changes: in a repeated hour the quiet
// hours end at the pass t is in, and an end the clocks skip over is the
// change itself. At most three days of minutes, a few hundred microseconds,
// once per deferred delivery. The zero time when no quiet hours are set.
func (q QuietHours) NextEnd(t time.Time) time.Time {
	if !q.Set {
		return time.Time{}
	}
	m := t.Truncate(time.Minute)
	quiet := q.Contains(t)
	for range 3 * 24 * 60 {
		m = m.Add(time.Minute)
		switch in := q.Contains(m); {
		case quiet && !in:
			return m
		case in:
			quiet = true
		}
	}
	return time.Time{} // not reached: a parsed window is never empty or whole-day
}
