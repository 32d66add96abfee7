package pipeline

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// AlertEventType is the event_type of an alert's outcome row
// ("alert.out_of_stock", ...), so analysts find alerts in webhook_events.
func AlertEventType(t AlertTrigger) string { return "alert." + string(t) }

// ProductAdminURL is the product's page in the EverShop admin, or "" when
// the store's URL is not known.
func ProductAdminURL(storeURL, productID string) string {
	if storeURL == "" || productID == "" {
		return ""
	}
	return strings.TrimRight(storeURL, "/") + "/admin/products/edit/" + url.PathEscape(productID)
}

// AdminURL is the alert's product page in the EverShop admin, which is
// keyed by the product's uuid (/admin/products/edit/<uuid>, EverShop 2.2.1
// modules/catalog/pages/admin/productEdit); the numeric id is the fallback
// for an alert raised from an event without one. "" when the store's URL
// is not known.
func (a Alert) AdminURL(storeURL string) string {
	if a.ProductUUID != "" {
		return ProductAdminURL(storeURL, a.ProductUUID)
	}
	return ProductAdminURL(storeURL, a.ProductID)
}

// AlertText is the short message a person reads: what happened, to which
// product (name and SKU), from what to what, and where to look.
func AlertText(a Alert, storeURL string) string {
	var b strings.Builder
	product := a.Name
	if product == "" {
		product = "Product " + a.ProductID
	}
	if a.SKU != "" {
		product += " (SKU " + a.SKU + ")"
	}
	switch a.Trigger {
	case AlertOutOfStock:
		fmt.Fprintf(&b, "Out of stock: %s — stock went from %s to %s.", product, a.Old, a.New)
	case AlertLowStock:
		fmt.Fprintf(&b, "Low stock: %s — %s left (was %s).", product, a.New, a.Old)
	case AlertBackInStock:
		fmt.Fprintf(&b, "Back in stock: %s — stock went from %s to %s.", product, a.Old, a.New)
	case AlertPriceChange:
		change := PricePercentChange(a.Old, a.New)
		if change != "" {
			change = " (" + change + ")"
		}
		fmt.Fprintf(&b, "Price change: %s — regular price %s → %s%s.", product, a.Old, a.New, change)
	case AlertDeadLetter, AlertHeldTooLong:
		b.WriteString(a.Detail)
		return b.String()
	default:
		fmt.Fprintf(&b, "%s: %s — %s → %s.", a.Trigger, product, a.Old, a.New)
	}
	if link := a.AdminURL(storeURL); link != "" {
		b.WriteString(" " + link)
	}
	return b.String()
}

// DeadLetterAlert is the "needs a person" alert of an event that was
// dead-lettered: its type, entity, error, attempts and the replay command.
func DeadLetterAlert(d Delivery, cause error, at time.Time) Alert {
	detail := fmt.Sprintf("Needs a person: %s %s (entity %s) was dead-lettered after %d attempt(s): %s. Fix the cause, then: shopstream replay --event-id %s",
		d.Event.Type, d.Event.ID, d.Event.EntityID, d.Attempt, TruncateError(cause), d.Event.ID)
	// A redelivery of the same record keeps the id (the channels drop the
	// copy); a replayed event that dies again starts a new retry budget
	// (d.Since is its replay time), so its second death is a new alert.
	return Alert{ID: AlertID(AlertDeadLetter, d.Event.ID, strconv.Itoa(d.Attempt)+"@"+kafkaSafe(d.Since())), Trigger: AlertDeadLetter,
		ProductID: d.Event.EntityID, EventID: d.Event.ID, At: at, New: TruncateError(cause), Old: strconv.Itoa(d.Attempt), Detail: detail}
}

// HeldAlert is the "needs a person" alert of an event held through a
// downstream outage for longer than the configured time.
func HeldAlert(d Delivery, held time.Duration, at time.Time) Alert {
	detail := fmt.Sprintf("Needs a person: %s %s (entity %s) has been held for %s: the support inbox is failing for everything. Delivery resumes by itself when it is back.",
		d.Event.Type, d.Event.ID, d.Event.EntityID, held.Round(time.Second))
	return Alert{ID: AlertID(AlertHeldTooLong, d.Event.ID, kafkaSafe(d.Since())), Trigger: AlertHeldTooLong,
		ProductID: d.Event.EntityID, EventID: d.Event.ID, At: at, New: held.Round(time.Second).String(), Detail: detail}
}

func kafkaSafe(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }
