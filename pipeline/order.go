package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Order is what shopstream needs of an order to tell its customer how it is
// moving. Webhooks carry it in two shapes — the spec's short camelCase form
// and EverShop's own order rows — and both land here, so nothing downstream
// cares which one the sender used.
//
// Statuses are lower-cased and trimmed, so that "Shipped" and "shipped" are
// one status for messages, superseding and analytics. Ids are decimal text
// exactly as the sender wrote them, so they match the Kafka key.
type Order struct {
	ID                     string
	Number                 string // what the customer sees ("10001", "ORD-456")
	CustomerID             string
	CustomerEmail          string
	CustomerName           string
	Status                 string
	PreviousStatus         string
	ShipmentStatus         string // EverShop rows only: the shipment roll-up
	PreviousShipmentStatus string
	PaymentStatus          string
	UpdatedAt              time.Time // zero when absent or unreadable; see ParseOrder
	Currency               string
	GrandTotal             string // canonical decimal ("49.80") when it parses, else as sent
}

// ParseOrder reads an order webhook's data in either shape. The id follows
// the ingress rule (EntityID: id, else order_id, else uuid) so the order an
// action talks about is the record's key. Data that is not an object, has no
// id, or has a field of the wrong JSON type is a *PermanentError: retrying
// the same bytes cannot fix it.
//
// UpdatedAt is best effort: an unreadable timestamp leaves it zero instead of
// failing the notification, and callers fall back to the envelope timestamp.
// GrandTotal is informational (it only appears in the confirmation), so a
// value that is not a decimal is kept as sent rather than refused.
func ParseOrder(data json.RawMessage) (Order, error) {
	f, err := decodeDataFields(data)
	if err != nil {
		return Order{}, Permanentf("order: %w", err)
	}
	id, err := EntityID(KindOrder, data)
	if err != nil {
		return Order{}, Permanentf("order: %w", err)
	}
	o := Order{ID: id}
	for _, s := range []struct {
		dst  *string
		keys []string
	}{
		{&o.Number, []string{"orderNumber", "order_number"}},
		{&o.CustomerID, []string{"customerId", "customer_id"}},
		{&o.CustomerEmail, []string{"customerEmail", "customer_email"}},
		{&o.CustomerName, []string{"customerName", "customer_full_name"}},
		{&o.Status, []string{"status"}},
		{&o.PreviousStatus, []string{"previousStatus", "previous_status"}},
		{&o.ShipmentStatus, []string{"shipmentStatus", "shipment_status"}},
		{&o.PreviousShipmentStatus, []string{"previousShipmentStatus", "previous_shipment_status"}},
		{&o.PaymentStatus, []string{"paymentStatus", "payment_status"}},
		{&o.Currency, []string{"currency"}},
		{&o.GrandTotal, []string{"grandTotal", "grand_total"}},
	} {
		if *s.dst, err = f.text(s.keys...); err != nil {
			return Order{}, Permanentf("order %s: %w", id, err)
		}
	}
	for _, st := range []*string{&o.Status, &o.PreviousStatus, &o.ShipmentStatus, &o.PreviousShipmentStatus, &o.PaymentStatus} {
		*st = strings.ToLower(*st)
	}
	o.Currency = strings.ToUpper(o.Currency)
	if total, err := CanonicalPrice(o.GrandTotal); err == nil {
		o.GrandTotal = total
	}
	o.UpdatedAt = f.time("updatedAt", "updated_at")
	return o, nil
}

// dataFields is a webhook data object with its values left raw, so each
// field can be read in whichever JSON type the sender chose.
type dataFields map[string]json.RawMessage

func decodeDataFields(data json.RawMessage) (dataFields, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, fmt.Errorf("data must be a JSON object")
	}
	var f dataFields
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("data must be a JSON object: %w", err)
	}
	return f, nil
}

// raw returns the first of keys that is present and not null.
func (f dataFields) raw(keys ...string) (json.RawMessage, string) {
	for _, k := range keys {
		if v := bytes.TrimSpace(f[k]); len(v) > 0 && string(v) != "null" {
			return v, k
		}
	}
	return nil, ""
}

// text reads the first of keys holding a non-empty string or a number.
// Numbers keep their literal text (json.Number), never a float rendering, so
// 1001 stays "1001" and 24.9000 stays "24.9000". Booleans, objects and
// arrays are a type error: a sender that puts them there is broken.
func (f dataFields) text(keys ...string) (string, error) {
	for _, k := range keys {
		v := bytes.TrimSpace(f[k])
		if len(v) == 0 || string(v) == "null" {
			continue
		}
		s, err := jsonScalarText(v)
		if err != nil {
			return "", fmt.Errorf("%s: %w", k, err)
		}
		if s = strings.TrimSpace(s); s != "" {
			return s, nil
		}
	}
	return "", nil
}

// jsonScalarText renders a JSON string or number as text.
func jsonScalarText(v json.RawMessage) (string, error) {
	switch {
	case v[0] == '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("invalid string")
		}
		return s, nil
	case v[0] == '-' || (v[0] >= '0' && v[0] <= '9'):
		var n json.Number
		if err := json.Unmarshal(v, &n); err != nil {
			return "", fmt.Errorf("invalid number")
		}
		return n.String(), nil
	}
	return "", fmt.Errorf("want a string or a number")
}

// orderTimeLayouts are the timestamp forms seen in order rows: RFC 3339 from
// JSON serialisers, and PostgreSQL's text form when a row is forwarded as is.
var orderTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

// time reads the first of keys as a timestamp; zone-less forms are UTC.
func (f dataFields) time(keys ...string) time.Time {
	s, err := f.text(keys...)
	if err != nil || s == "" {
		return time.Time{}
	}
	for _, layout := range orderTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
