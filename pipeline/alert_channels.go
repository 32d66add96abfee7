package pipeline

import (
	"context"
	"errors"
	"fmt"
)

// AlertChannels sends each alert to the store team's channels: the staff
// conversation of the support inbox (a Notifier, idempotent by the alert id
// as its event id, like customer messages) and an outgoing webhook
// (optional). During quiet hours (Alert.Quiet) the webhook, which is what
// wakes people, is left out; the inbox keeps the record.
//
// If one channel fails, the whole send fails and is retried through the
// tiers; a channel that already took the alert in this process is not
// called again for it (the webhook receiver may not deduplicate by
// webhook-id, Slack does not), and the inbox deduplicates by key anyway.
// Permanent only when every failing channel failed permanently.
type AlertChannels struct {
	Staff      Notifier
	StaffEmail string // the staff inbox user's e-mail
	StoreURL   string // EverShop's base URL, for admin links; "" none
	Webhook    AlertSender
	done       *SeenSet
}

// DigestSender delivers one digest; the outgoing webhook implements it.
type DigestSender interface {
	SendDigest(ctx context.Context, d AlertDigest) error
}

// NewAlertChannels builds the fan-out; staff or webhook may be nil (not
// both).
func NewAlertChannels(staff Notifier, staffEmail, storeURL string, webhook AlertSender) (*AlertChannels, error) {
	if staff == nil && webhook == nil {
		return nil, errors.New("alerts: no channel (staff inbox or webhook)")
	}
	if staff != nil && staffEmail == "" {
		return nil, errors.New("alerts: the staff inbox needs the staff e-mail")
	}
	return &AlertChannels{Staff: staff, StaffEmail: staffEmail, StoreURL: storeURL, Webhook: webhook, done: NewSeenSet(10_000)}, nil
}

// SendAlert implements AlertSender.
func (c *AlertChannels) SendAlert(ctx context.Context, a Alert) error {
	return c.send(ctx, a.ID, a.Quiet,
		func() Notification {
			return Notification{EventID: a.ID, Email: c.StaffEmail, Text: AlertText(a, c.StoreURL), Reason: AlertEventType(a.Trigger)}
		},
		func() error { return c.Webhook.SendAlert(ctx, a) })
}

// SendDigest sends a digest the same way. The inbox message carries the
// CSV too when there is no webhook to carry it.
func (c *AlertChannels) SendDigest(ctx context.Context, d AlertDigest) error {
	ds, _ := c.Webhook.(DigestSender)
	return c.send(ctx, d.ID, d.Quiet,
		func() Notification {
			text := DigestText(d, c.StoreURL)
			if ds == nil {
				text += "\n\n" + d.CSV
			}
			return Notification{EventID: d.ID, Email: c.StaffEmail, Text: text, Reason: "alert.digest"}
		},
		func() error {
			if ds == nil {
				return nil
			}
			return ds.SendDigest(ctx, d)
		})
}

func (c *AlertChannels) send(ctx context.Context, id string, quiet bool, note func() Notification, hook func() error) error {
	var transient, permanent []error
	record := func(channel string, err error) {
		switch {
		case err == nil:
		case IsPermanent(err):
			permanent = append(permanent, fmt.Errorf("%s: %w", channel, err))
		default:
			transient = append(transient, fmt.Errorf("%s: %w", channel, err))
		}
	}
	if c.Staff != nil && !c.done.Seen("inbox\x00"+id) {
		err := c.Staff.Notify(ctx, note())
		if err == nil {
			c.done.Add("inbox\x00" + id)
		}
		record("staff inbox", err)
	}
	if c.Webhook != nil && !quiet && !c.done.Seen("webhook\x00"+id) {
		err := hook()
		if err == nil {
			c.done.Add("webhook\x00" + id)
		}
		record("webhook", err)
	}
	switch {
	case len(transient) > 0:
		after := []error{}
		var longest RetryableError
		for _, err := range transient {
			if d, ok := RetryAfter(err); ok && d > longest.After {
				longest.After = d
			}
			after = append(after, err)
		}
		// Permanent failures beside transient ones are reported as text
		// only: the send is retried as a whole.
		for _, err := range permanent {
			after = append(after, errors.New(err.Error()))
		}
		return Retryable(errors.Join(after...), longest.After)
	case len(permanent) > 0:
		return Permanent(errors.Join(permanent...))
	}
	return nil
}
