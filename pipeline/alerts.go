package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Store alerts: edge-triggered rules evaluated on every product event
// against the product's previous state (AlertState), so each crossing fires
// once and re-arms only when the value crosses back.

// AlertTrigger names what an alert reports.
type AlertTrigger string

const (
	AlertOutOfStock  AlertTrigger = "out_of_stock"
	AlertLowStock    AlertTrigger = "low_stock"
	AlertBackInStock AlertTrigger = "back_in_stock"
	AlertPriceChange AlertTrigger = "price_change"
	// AlertDeadLetter and AlertHeldTooLong need a person (alert_ops.go).
	AlertDeadLetter  AlertTrigger = "dead_letter"
	AlertHeldTooLong AlertTrigger = "held_too_long"
)

// productTriggers are the triggers with per-product state, in the order of
// AlertState.LastFired.
var productTriggers = [...]AlertTrigger{AlertOutOfStock, AlertLowStock, AlertBackInStock, AlertPriceChange}

func triggerIndex(t AlertTrigger) int {
	for i, x := range productTriggers {
		if x == t {
			return i
		}
	}
	return -1
}

// Alert is one crossing, ready for a channel. ID is deterministic (product,
// trigger, event id), so every retry of the same crossing is the same alert
// to the inbox's idempotency key and the webhook's webhook-id.
type Alert struct {
	ID        string       `json:"id"`
	Trigger   AlertTrigger `json:"trigger"`
	ProductID string       `json:"product_id"`
	// ProductUUID is EverShop's product uuid, which its admin's product
	// page is keyed by (AdminURL); "" when the event did not carry it.
	ProductUUID string    `json:"product_uuid,omitempty"`
	SKU         string    `json:"sku,omitempty"`
	Name        string    `json:"name,omitempty"`
	Old         string    `json:"old"`
	New         string    `json:"new"`
	EventID     string    `json:"event_id"`
	At          time.Time `json:"at"`
	// Quiet is set when the crossing happened during quiet hours. It is
	// informational: whether the webhook is held back is decided when the
	// message is sent (AlertDispatch, by the clock then).
	Quiet bool `json:"quiet,omitempty"`
	// Detail carries what a "needs a person" alert reports (error,
	// attempts, replay command); empty for product alerts.
	Detail string `json:"detail,omitempty"`
}

// AlertID is the id of trigger's alert for subject (a product or an
// event) caused by event eventID.
func AlertID(trigger AlertTrigger, subject, eventID string) string {
	sum := sha256.Sum256([]byte(string(trigger) + "\x00" + subject + "\x00" + eventID))
	return "alert_" + hex.EncodeToString(sum[:12])
}

// QuietHours is a daily window, [Start, End) minutes after midnight in Loc;
// Start > End wraps midnight (22:00-07:00). Zero value: never quiet.
type QuietHours struct {
	Start, End int // minutes after midnight
	Loc        *time.Location
	Set        bool
}

// ParseQuietHours reads "HH:MM-HH:MM" ("" = none) in loc (nil = UTC).
func ParseQuietHours(s string, loc *time.Location) (QuietHours, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return QuietHours{}, nil
	}
	if loc == nil {
		loc = time.UTC
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return QuietHours{}, fmt.Errorf("%q is not HH:MM-HH:MM", s)
	}
	start, err := parseClock(a)
	if err != nil {
		return QuietHours{}, err
	}
	end, err := parseClock(b)
	if err != nil {
		return QuietHours{}, err
	}
	if start == end {
		return QuietHours{}, fmt.Errorf("%q is an empty window", s)
	}
	return QuietHours{Start: start, End: end, Loc: loc, Set: true}, nil
}

func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day HH:MM", strings.TrimSpace(s))
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Contains reports whether t falls in the window.
func (q QuietHours) Contains(t time.Time) bool {
	if !q.Set {
		return false
	}
	lt := t.In(q.Loc)
	m := lt.Hour()*60 + lt.Minute()
	if q.Start < q.End {
		return m >= q.Start && m < q.End
	}
	return m >= q.Start || m < q.End
}

// AlertRules is the alerts' configuration. Build it with the settings
// parser (cmd) and check it with Validate.
type AlertRules struct {
	Inventory bool // WEBHOOK_INVENTORY_ALERTS
	Price     bool // WEBHOOK_PRICE_ALERTS
	// LowStock is the default threshold: low stock is qty at or below it.
	LowStock int64
	// PricePercent is the default minimum move of the regular price, in
	// percent of the reference price (the price last alerted, or first seen).
	PricePercent *big.Rat
	// Overrides by SKU, then by category id (when the product data has one).
	SKULowStock          map[string]int64
	SKUPricePercent      map[string]*big.Rat
	CategoryLowStock     map[string]int64
	CategoryPricePercent map[string]*big.Rat
	// Cooldown is the least time between two alerts of one trigger for one
	// product, by the events' updated_at; a crossing inside it moves the
	// state (it re-arms) but sends nothing.
	Cooldown time.Duration
	Quiet    QuietHours
}

// Enabled reports whether any product trigger is on.
func (r AlertRules) Enabled() bool { return r.Inventory || r.Price }

// ParsePercent reads a positive percentage ("10", "2.5").
func ParsePercent(s string) (*big.Rat, error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok || r.Sign() <= 0 || r.Cmp(big.NewRat(10000, 1)) > 0 {
		return nil, fmt.Errorf("%q is not a percentage in (0, 10000]", s)
	}
	return r, nil
}

// ParseOverrides reads "key=value,key=value" with parse for each value.
func ParseOverrides[T any](s string, parse func(string) (T, error)) (map[string]T, error) {
	out := map[string]T{}
	for _, item := range SplitList(s) {
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", item)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%q is given twice", k)
		}
		val, err := parse(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = val
	}
	return out, nil
}

// ParseThreshold reads a stock threshold (0..1e9).
func ParseThreshold(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 || n > 1e9 {
		return 0, fmt.Errorf("%q is not a whole number in 0..1000000000", s)
	}
	return n, nil
}

func (r AlertRules) threshold(sku, category string) int64 {
	if v, ok := r.SKULowStock[sku]; ok && sku != "" {
		return v
	}
	if v, ok := r.CategoryLowStock[category]; ok && category != "" {
		return v
	}
	return r.LowStock
}

func (r AlertRules) percent(sku, category string) *big.Rat {
	if v, ok := r.SKUPricePercent[sku]; ok && sku != "" {
		return v
	}
	if v, ok := r.CategoryPricePercent[category]; ok && category != "" {
		return v
	}
	return r.PricePercent
}

// AlertFacts is what a product event says about the alerts' inputs. A
// field the event does not carry is unknown and never crosses anything:
// EverShop's own product rows carry no quantity, and must not read as
// "sold out".
type AlertFacts struct {
	ID, SKU, Name, Category string
	UUID                    string // EverShop's product uuid, for the admin link
	Qty                     int64
	QtyKnown                bool
	InStock                 bool
	InStockKnown            bool
	Price                   string // canonical decimal; "" unknown
	Deleted                 bool
}

// ProductAlertFacts reads an event's alert inputs.
func ProductAlertFacts(ev Event) (AlertFacts, error) {
	id, err := EntityID(KindProduct, ev.Data)
	if err != nil {
		if ev.EntityID == "" {
			return AlertFacts{}, Permanentf("alerts: event %s: %w", ev.ID, err)
		}
		id = ev.EntityID
	}
	if ev.Type == ProductDeleted {
		return AlertFacts{ID: id, Deleted: true}, nil
	}
	f, err := decodeDataFields(ev.Data)
	if err != nil {
		return AlertFacts{}, Permanentf("alerts: event %s: %w", ev.ID, err)
	}
	p, err := parseProductFields(id, f)
	if err != nil {
		return AlertFacts{}, fmt.Errorf("alerts: %w", err)
	}
	facts := AlertFacts{ID: id, SKU: p.SKU, Name: p.Name, Price: p.Price, Qty: p.Qty, InStock: p.InStock}
	if facts.Category, err = f.text("category_id", "categoryId", "category"); err != nil {
		facts.Category = ""
	}
	if facts.UUID, err = f.text("uuid"); err != nil {
		facts.UUID = ""
	}
	sources := []dataFields{f}
	if inv, _ := f.raw("inventory"); len(inv) > 0 {
		if invFields, err := decodeDataFields(inv); err == nil {
			sources = append(sources, invFields)
		}
	}
	for _, src := range sources {
		if raw, _ := src.raw("qty"); raw != nil {
			facts.QtyKnown = true
		}
		if raw, _ := src.raw("isInStock", "is_in_stock", "stock_availability"); raw != nil {
			facts.InStockKnown = true
		}
	}
	if !facts.InStockKnown && facts.QtyKnown {
		facts.InStockKnown = true // derived from qty, as the catalog does
	}
	return facts, nil
}

// AlertState is what one product's alerts remember: the version of the
// last event applied, the last known stock and the price reference, and
// when each trigger last fired. It is kept per product, partition-aligned
// with evershop.product, in a compacted topic.
type AlertState struct {
	UpdatedAt  time.Time `json:"updated_at"`
	ReceivedAt time.Time `json:"received_at"`
	EventID    string    `json:"event_id"`
	Deleted    bool      `json:"deleted,omitempty"`

	QtyKnown     bool   `json:"qty_known,omitempty"`
	Qty          int64  `json:"qty,omitempty"`
	InStockKnown bool   `json:"in_stock_known,omitempty"`
	InStock      bool   `json:"in_stock,omitempty"`
	PriceRef     string `json:"price_ref,omitempty"`
	// LastFired is when each product trigger last fired (event time, unix
	// seconds; 0 never), in productTriggers order.
	LastFired [len(productTriggers)]int64 `json:"last_fired"`
	// Fired are the alerts this version fired: a redelivery of the same
	// event sends them again (idempotent channels) instead of losing them.
	// The next event replaces them, so they cost nothing for most products.
	Fired []Alert `json:"fired,omitempty"`
}

// NewerThan reports whether s is a newer version than w (updated_at, then
// received-at, then event id).
func (s AlertState) NewerThan(w AlertState) bool {
	return s.newerThan(ProductVersion{UpdatedAt: w.UpdatedAt, ReceivedAt: w.ReceivedAt}, w.EventID) > 0
}

// newerThan orders states: updated_at, then received-at, then event id.
func (s AlertState) newerThan(v ProductVersion, eventID string) int {
	if c := s.UpdatedAt.Compare(v.UpdatedAt); c != 0 {
		return c
	}
	if c := s.ReceivedAt.Compare(v.ReceivedAt); c != 0 {
		return c
	}
	return strings.Compare(s.EventID, eventID)
}

// AlertVerdict says what an event does to a product's alerts.
type AlertVerdict int

const (
	// AlertApplied: the event is newer than the state; Next replaces it
	// and Alerts are the crossings to send.
	AlertApplied AlertVerdict = iota
	// AlertStale: an older event (late retry, DLQ replay); nothing changes.
	AlertStale
	// AlertRepeat: the very event the state holds (a redelivery); Alerts
	// are the ones it fired, to send again through idempotent channels.
	AlertRepeat
)

// EvaluateAlerts applies one product event to the product's previous
// state (prev nil: never seen, which seeds the state and fires nothing)
// and returns the next state and the alerts it fires. It is pure: the same
// inputs always give the same outputs, which is what makes a retry of the
// same event fire the same alerts with the same ids.
func EvaluateAlerts(r AlertRules, prev *AlertState, ev Event, facts AlertFacts) (AlertVerdict, AlertState, []Alert) {
	v := ProductEventVersion(ev)
	if prev != nil {
		switch c := prev.newerThan(v, ev.ID); {
		case c > 0:
			return AlertStale, *prev, nil
		case c == 0:
			return AlertRepeat, *prev, append([]Alert(nil), prev.Fired...)
		}
	}
	next := AlertState{UpdatedAt: v.UpdatedAt, ReceivedAt: v.ReceivedAt, EventID: ev.ID, Deleted: facts.Deleted}
	if prev != nil {
		next.QtyKnown, next.Qty, next.InStockKnown, next.InStock, next.PriceRef = prev.QtyKnown, prev.Qty, prev.InStockKnown, prev.InStock, prev.PriceRef
		next.LastFired = prev.LastFired
	}
	if facts.Deleted {
		return AlertApplied, next, nil
	}
	// Unknown fields keep their last known value.
	if facts.QtyKnown {
		next.Qty, next.QtyKnown = facts.Qty, true
	}
	if facts.InStockKnown {
		next.InStock, next.InStockKnown = facts.InStock, true
	}
	if next.PriceRef == "" {
		next.PriceRef = facts.Price
	}
	if prev == nil || prev.Deleted {
		return AlertApplied, next, nil
	}
	var alerts []Alert
	fire := func(t AlertTrigger, from, to string) {
		i := triggerIndex(t)
		at := v.UpdatedAt
		if last := prev.LastFired[i]; last != 0 && r.Cooldown > 0 && at.Before(time.Unix(last, 0).Add(r.Cooldown)) {
			return
		}
		next.LastFired[i] = at.Unix()
		alerts = append(alerts, Alert{
			ID: AlertID(t, facts.ID, ev.ID), Trigger: t, ProductID: facts.ID, ProductUUID: facts.UUID, SKU: facts.SKU, Name: facts.Name,
			Old: from, New: to, EventID: ev.ID, At: at, Quiet: r.Quiet.Contains(at),
		})
	}
	if r.Inventory && (facts.QtyKnown || facts.InStockKnown) && (prev.QtyKnown || prev.InStockKnown) {
		wasOut, isOut := prev.out(), next.out()
		threshold := r.threshold(facts.SKU, facts.Category)
		switch {
		case !wasOut && isOut:
			fire(AlertOutOfStock, prev.stockText(), next.stockText())
		case wasOut && !isOut:
			fire(AlertBackInStock, prev.stockText(), next.stockText())
		}
		if !isOut && facts.QtyKnown && prev.QtyKnown && prev.Qty > threshold && next.Qty <= threshold {
			fire(AlertLowStock, strconv.FormatInt(prev.Qty, 10), strconv.FormatInt(next.Qty, 10))
		}
	}
	if facts.Price != "" && prev.PriceRef != "" && facts.Price != prev.PriceRef {
		if r.Price && priceMoved(prev.PriceRef, facts.Price, r.percent(facts.SKU, facts.Category)) {
			fire(AlertPriceChange, prev.PriceRef, facts.Price)
			next.PriceRef = facts.Price
		} else if !r.Price {
			next.PriceRef = facts.Price
		}
	}
	next.Fired = alerts
	return AlertApplied, next, alerts
}

// out: quantity at or below 0, or the store says not in stock.
func (s AlertState) out() bool {
	return (s.QtyKnown && s.Qty <= 0) || (s.InStockKnown && !s.InStock)
}

func (s AlertState) stockText() string {
	switch {
	case s.QtyKnown:
		return strconv.FormatInt(s.Qty, 10)
	case s.InStockKnown && s.InStock:
		return "in stock"
	case s.InStockKnown:
		return "out of stock"
	}
	return "unknown"
}

// priceMoved reports |new-old| >= percent% of old; from a zero price any
// change counts. Exact: both are canonical decimals.
func priceMoved(from, to string, percent *big.Rat) bool {
	o, ok1 := parseRat(from)
	n, ok2 := parseRat(to)
	if !ok1 || !ok2 {
		return from != to
	}
	if o.Sign() == 0 {
		return n.Sign() != 0
	}
	diff := new(big.Rat).Sub(n, o)
	diff.Abs(diff)
	diff.Mul(diff, big.NewRat(100, 1))
	limit := new(big.Rat).Mul(new(big.Rat).Abs(o), percent)
	return diff.Cmp(limit) >= 0
}

func parseRat(s string) (*big.Rat, bool) { return new(big.Rat).SetString(s) }

// PricePercentChange renders the signed change from old to new in percent
// with one decimal ("-25.0%"), or "" when it cannot be computed.
func PricePercentChange(from, to string) string {
	o, ok1 := parseRat(from)
	n, ok2 := parseRat(to)
	if !ok1 || !ok2 || o.Sign() == 0 {
		return ""
	}
	d := new(big.Rat).Sub(n, o)
	d.Mul(d, big.NewRat(100, 1))
	d.Quo(d, o)
	s := d.FloatString(1)
	if d.Sign() > 0 {
		s = "+" + s
	}
	return s + "%"
}
