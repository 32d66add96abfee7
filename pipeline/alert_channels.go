package pipeline

import (
	"context"
	"errors"
)

// AlertChannels sends alert messages to the store team's channels: the
// staff conversation of the support inbox (a Notifier, idempotent by the
// alert or digest id as its event id, like customer messages) and an
// outgoing webhook (optional, webhook-id = the same id). Each delivery
// names one channel (AlertDelivery): a failing channel is retried, dead-
// lettered and replayed on its own, through the same tiers as events.
type AlertChannels struct {
	Staff      Notifier
	StaffEmail string // the staff inbox user's e-mail
	StoreURL   string // EverShop's base URL, for admin links; "" none
	Webhook    AlertSender
}

// DigestSender delivers one digest; the outgoing webhook implements it.
type DigestSender interface {
	SendDigest(ctx context.Context, d AlertDigest) error
}

// NewAlertChannels builds the channels; staff or webhook may be nil (not
// both).
func NewAlertChannels(staff Notifier, staffEmail, storeURL string, webhook AlertSender) (*AlertChannels, error) {
	if staff == nil && webhook == nil {
		return nil, errors.New("alerts: no channel (staff inbox or webhook)")
	}
	if staff != nil && staffEmail == "" {
		return nil, errors.New("alerts: the staff inbox needs the staff e-mail")
	}
	return &AlertChannels{Staff: staff, StaffEmail: staffEmail, StoreURL: storeURL, Webhook: webhook}, nil
}

// Configured lists the channels that are set, inbox first.
func (c *AlertChannels) Configured() []AlertChannel {
	var out []AlertChannel
	if c.Staff != nil {
		out = append(out, ChannelInbox)
	}
	if c.Webhook != nil {
		out = append(out, ChannelWebhook)
	}
	return out
}

// Deliver implements AlertDeliverer. A delivery for a channel that is not
// configured (any more) is Permanent: it goes to the DLQ, where a person
// sees it.
func (c *AlertChannels) Deliver(ctx context.Context, m AlertDelivery) error {
	if err := m.Validate(); err != nil {
		return err
	}
	switch m.Channel {
	case ChannelInbox:
		if c.Staff == nil {
			return Permanentf("alert delivery %s: the staff inbox is not configured", m.ID())
		}
		return c.Staff.Notify(ctx, c.note(m))
	case ChannelWebhook:
		if c.Webhook == nil {
			return Permanentf("alert delivery %s: the alert webhook is not configured", m.ID())
		}
		if m.Digest == nil {
			return c.Webhook.SendAlert(ctx, *m.Alert)
		}
		ds, ok := c.Webhook.(DigestSender)
		if !ok {
			return Permanentf("alert delivery %s: the webhook cannot send digests", m.ID())
		}
		return ds.SendDigest(ctx, *m.Digest)
	}
	return Permanentf("alert delivery %s: unknown channel", m.ID())
}

// note is the staff inbox message of m. A digest's message carries the CSV
// too when there is no webhook to carry it.
func (c *AlertChannels) note(m AlertDelivery) Notification {
	if m.Digest == nil {
		a := *m.Alert
		return Notification{EventID: a.ID, Email: c.StaffEmail, Text: AlertText(a, c.StoreURL), Reason: AlertEventType(a.Trigger)}
	}
	d := *m.Digest
	text := DigestText(d, c.StoreURL)
	if _, ok := c.Webhook.(DigestSender); !ok {
		text += "\n\n" + d.CSV
	}
	return Notification{EventID: d.ID, Email: c.StaffEmail, Text: text, Reason: "alert.digest"}
}
