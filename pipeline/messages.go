package pipeline

import (
	"fmt"
	"strings"
	"unicode"
)

// Customer-facing texts. They are plain English sentences sent into the
// customer's support conversation, so they name the order the way the
// customer knows it (its number) and never contain an e-mail address.

// statusTexts holds the message for each status key StatusMessage can
// announce. %s is the order reference ("order #10001").
var statusTexts = map[string]string{
	"processing":          "Good news: your %s is being prepared. We'll let you know as soon as it ships.",
	"shipped":             "Your %s is on its way! It has been shipped and should reach you soon.",
	"partially_shipped":   "Part of your %s has been shipped. We'll let you know when the rest is on its way.",
	"partially_delivered": "Part of your %s has been delivered. The rest is still on its way.",
	"delivered":           "Your %s has been delivered. We hope you enjoy it!",
	"completed":           "Your %s is complete. Thank you for shopping with us!",
	"closed":              "Your %s has been closed. If you have any questions about it, just reply here.",
	"canceled":            "Your %s has been canceled. If you didn't expect this or have any questions, just reply here.",
	"partially_canceled":  "Part of your %s has been canceled. If you have any questions, just reply here.",
}

// silentStatuses are moves a customer does not need to hear about: "new" is
// covered by the order confirmation, and a shipment or order becoming
// "pending" tells them nothing they did not know.
var silentStatuses = map[string]bool{"new": true, "pending": true}

// StatusMessage is the message for an order.updated event, and ok=false when
// nothing changed that a customer should hear about.
//
// One event, one message, one status key. An EverShop row can move the order
// status and the shipment roll-up at once (the fixture goes new→processing
// AND pending→shipped); the customer cares about the most concrete news, so
// the announcement rule is:
//
//  1. a cancellation (order or shipment, "canceled" or "cancelled") wins:
//     it is the one change a customer must not miss;
//  2. otherwise a shipment change wins (shipped, delivered, partially_…):
//     the parcel moving is what the customer waits for;
//  3. otherwise the order status change (processing, completed, closed, or
//     the spec's shipped/delivered carried in status).
//
// A field counts as changed when it is set and differs from its previous
// value; an unknown previous value counts as a change, because the spec's
// short form may omit previousStatus. Changes to "new" or "pending" are not
// announced. Payment status is never announced on its own: EverShop moves
// the order to processing when payment lands. Unknown statuses get a
// generic "its status is now on hold" message.
func StatusMessage(o Order) (text string, ok bool) {
	key := NotifiedStatus(o)
	if key == "" {
		return "", false
	}
	ref := orderRef(o)
	if tmpl, ok := statusTexts[key]; ok {
		return fmt.Sprintf(tmpl, ref), true
	}
	return fmt.Sprintf("There's an update on your %s: its status is now %s.", ref, humanStatus(key)), true
}

// NotifiedStatus is the status key StatusMessage announces, "" when it
// announces nothing. The spec's "cancelled" and EverShop's "canceled" are
// one key ("canceled"), so superseding and analytics see one status whatever
// the sender's spelling.
func NotifiedStatus(o Order) string {
	order := changedStatus(o.Status, o.PreviousStatus)
	shipment := changedStatus(o.ShipmentStatus, o.PreviousShipmentStatus)
	switch {
	case order == "canceled" || shipment == "canceled":
		return "canceled"
	case shipment != "":
		return shipment
	}
	return order
}

// changedStatus returns the canonical key of cur when it is an announceable
// change from prev, else "".
func changedStatus(cur, prev string) string {
	cur, prev = orderStatusKey(cur), orderStatusKey(prev)
	if cur == "" || cur == prev || silentStatuses[cur] {
		return ""
	}
	return cur
}

// orderStatusKey canonicalises a status: lower case, spaces and hyphens as
// underscores, British "cancelled" as EverShop's "canceled".
func orderStatusKey(s string) string {
	s = strings.ToLower(strings.Join(strings.Fields(s), "_"))
	s = strings.ReplaceAll(s, "-", "_")
	return strings.ReplaceAll(s, "cancelled", "canceled")
}

// humanStatus renders an unknown status key for a sentence: "on_hold" →
// "on hold", bounded so a runaway value cannot flood the conversation.
func humanStatus(key string) string {
	s := collapseSpaces(strings.ReplaceAll(key, "_", " "))
	if r := []rune(s); len(r) > 60 {
		s = string(r[:60]) + "…"
	}
	return s
}

// orderRef names the order as the customer knows it: "order #10001" for a
// numeric order number, "order ORD-456" for one that has its own prefix, the
// id when there is no number.
func orderRef(o Order) string {
	ref := collapseSpaces(o.Number)
	if ref == "" {
		ref = collapseSpaces(o.ID)
	}
	switch {
	case ref == "":
		return "order"
	case strings.IndexFunc(ref, func(r rune) bool { return !unicode.IsDigit(r) }) < 0:
		return "order #" + ref
	}
	return "order " + ref
}

// OrderConfirmationMessage is the message for order.created: thanks, the
// order reference and, when known, the total.
func OrderConfirmationMessage(o Order) string {
	var b strings.Builder
	b.WriteString("Thank you for your order")
	if name := greetingName(o.CustomerName); name != "" {
		b.WriteString(", " + name)
	}
	b.WriteString("! We've received your " + orderRef(o))
	if total := collapseSpaces(o.GrandTotal); total != "" {
		b.WriteString(" (total " + total)
		if cur := collapseSpaces(o.Currency); cur != "" {
			b.WriteString(" " + cur)
		}
		b.WriteString(")")
	}
	b.WriteString(" and will let you know as soon as it ships.")
	return b.String()
}

// WelcomeMessage is the message for customer.created. It greets by name when
// the name is known and never repeats the e-mail address.
func WelcomeMessage(c Customer) string {
	greeting := "Welcome!"
	if name := greetingName(c.Name); name != "" {
		greeting = "Welcome, " + name + "!"
	}
	return greeting + " Thanks for creating an account with us. If you have any questions about our products or an order, just send us a message here. We're happy to help."
}

// greetingName is a display name fit for a greeting: whitespace collapsed,
// and nothing at all if it looks like an e-mail address (stores often fill
// the name with it) or is absurdly long.
func greetingName(name string) string {
	name = collapseSpaces(name)
	if strings.Contains(name, "@") || len([]rune(name)) > 80 {
		return ""
	}
	return name
}
