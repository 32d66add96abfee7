package pipeline

import (
	"encoding/json"
	"fmt"
	"math/big"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

var alertT0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// productEv is a product.updated event for product 7 at updated_at t0+sec
// with data fields (id and updated_at added).
func productEv(id string, sec int, fields map[string]any) Event {
	data := map[string]any{"id": 7, "sku": "MUG-1", "name": "Blue mug", "updated_at": alertT0.Add(time.Duration(sec) * time.Second).Format(time.RFC3339)}
	for k, v := range fields {
		data[k] = v
	}
	raw, _ := json.Marshal(data)
	return Event{ID: id, Type: ProductUpdated, Kind: KindProduct, EntityID: "7", Data: raw,
		ReceivedAt: alertT0.Add(time.Duration(sec) * time.Second), Timestamp: alertT0}
}

func testRules() AlertRules {
	return AlertRules{Inventory: true, Price: true, LowStock: 5, PricePercent: big.NewRat(10, 1)}
}

// run applies events in order and returns the triggers fired by each.
func run(t *testing.T, r AlertRules, evs ...Event) ([][]string, *AlertState) {
	t.Helper()
	var st *AlertState
	var out [][]string
	for _, ev := range evs {
		facts, err := ProductAlertFacts(ev)
		if err != nil {
			t.Fatalf("facts of %s: %v", ev.ID, err)
		}
		verdict, next, alerts := EvaluateAlerts(r, st, ev, facts)
		var fired []string
		for _, a := range alerts {
			fired = append(fired, fmt.Sprintf("%s %s->%s", a.Trigger, a.Old, a.New))
		}
		if verdict == AlertStale {
			fired = append(fired, "stale")
		}
		if verdict == AlertRepeat {
			fired = append(fired, "repeat")
		}
		out = append(out, fired)
		st = &next
	}
	return out, st
}

func qty(n int) map[string]any { return map[string]any{"qty": n} }

func TestAlertCrossings(t *testing.T) {
	price := func(p string) map[string]any { return map[string]any{"price": p} }
	cases := []struct {
		name  string
		rules func(*AlertRules)
		evs   []Event
		want  []string // fired per event, joined by ";"
	}{
		{name: "first sight seeds, never fires", evs: []Event{productEv("a", 0, qty(0))}, want: []string{""}},
		{name: "out of stock 3 -> 0", evs: []Event{productEv("a", 0, qty(3)), productEv("b", 1, qty(0))},
			want: []string{"", "out_of_stock 3->0"}},
		{name: "out of stock to negative", evs: []Event{productEv("a", 0, qty(1)), productEv("b", 1, qty(-2))},
			want: []string{"", "out_of_stock 1->-2"}},
		{name: "in_stock flag goes false with qty unchanged",
			evs:  []Event{productEv("a", 0, map[string]any{"qty": 4, "is_in_stock": true}), productEv("b", 1, map[string]any{"qty": 4, "is_in_stock": false})},
			want: []string{"", "out_of_stock 4->4"}},
		{name: "0 -> 0 does not fire", evs: []Event{productEv("a", 0, qty(0)), productEv("b", 1, qty(0))}, want: []string{"", ""}},
		{name: "fires once per crossing, re-arms on the way back",
			evs:  []Event{productEv("a", 0, qty(3)), productEv("b", 1, qty(0)), productEv("c", 2, qty(0)), productEv("d", 3, qty(2)), productEv("e", 4, qty(0))},
			want: []string{"", "out_of_stock 3->0", "", "back_in_stock 0->2", "out_of_stock 2->0"}},
		{name: "low stock: above to equal threshold fires",
			evs:  []Event{productEv("a", 0, qty(6)), productEv("b", 1, qty(5))},
			want: []string{"", "low_stock 6->5"}},
		{name: "low stock: at threshold to below does not fire again",
			evs:  []Event{productEv("a", 0, qty(6)), productEv("b", 1, qty(5)), productEv("c", 2, qty(4)), productEv("d", 3, qty(6)), productEv("e", 4, qty(1))},
			want: []string{"", "low_stock 6->5", "", "", "low_stock 6->1"}},
		{name: "low stock from equal to below never fires", evs: []Event{productEv("a", 0, qty(5)), productEv("b", 1, qty(2))}, want: []string{"", ""}},
		{name: "straight to zero is out of stock only", evs: []Event{productEv("a", 0, qty(50)), productEv("b", 1, qty(0))},
			want: []string{"", "out_of_stock 50->0"}},
		{name: "unknown stock (EverShop row) never crosses",
			evs:  []Event{productEv("a", 0, qty(3)), productEv("b", 1, nil), productEv("c", 2, qty(3))},
			want: []string{"", "", ""}},
		{name: "price: exactly the percentage fires", evs: []Event{productEv("a", 0, price("20.00")), productEv("b", 1, price("22.00"))},
			want: []string{"", "price_change 20.00->22.00"}},
		{name: "price: below the percentage does not, drift accumulates against the reference",
			evs:  []Event{productEv("a", 0, price("20.00")), productEv("b", 1, price("21.00")), productEv("c", 2, price("21.99")), productEv("d", 3, price("22.00"))},
			want: []string{"", "", "", "price_change 20.00->22.00"}},
		{name: "price: down moves count", evs: []Event{productEv("a", 0, price("20")), productEv("b", 1, price("15"))},
			want: []string{"", "price_change 20.00->15.00"}},
		{name: "price: equal value does not fire", evs: []Event{productEv("a", 0, price("20")), productEv("b", 1, price("20.000"))}, want: []string{"", ""}},
		{name: "price from zero", evs: []Event{productEv("a", 0, price("0")), productEv("b", 1, price("1"))}, want: []string{"", "price_change 0.00->1.00"}},
		{name: "SKU override threshold", rules: func(r *AlertRules) { r.SKULowStock = map[string]int64{"MUG-1": 20} },
			evs: []Event{productEv("a", 0, qty(21)), productEv("b", 1, qty(20))}, want: []string{"", "low_stock 21->20"}},
		{name: "category override percentage", rules: func(r *AlertRules) { r.CategoryPricePercent = map[string]*big.Rat{"3": big.NewRat(50, 1)} },
			evs:  []Event{productEv("a", 0, map[string]any{"price": 20, "category_id": 3}), productEv("b", 1, map[string]any{"price": 25, "category_id": 3})},
			want: []string{"", ""}},
		{name: "SKU beats category", rules: func(r *AlertRules) {
			r.CategoryLowStock = map[string]int64{"3": 1}
			r.SKULowStock = map[string]int64{"MUG-1": 10}
		}, evs: []Event{productEv("a", 0, map[string]any{"qty": 11, "category_id": 3}), productEv("b", 1, map[string]any{"qty": 9, "category_id": 3})},
			want: []string{"", "low_stock 11->9"}},
		{name: "inventory off", rules: func(r *AlertRules) { r.Inventory = false },
			evs: []Event{productEv("a", 0, qty(3)), productEv("b", 1, qty(0))}, want: []string{"", ""}},
		{name: "price off moves the reference", rules: func(r *AlertRules) { r.Price = false },
			evs: []Event{productEv("a", 0, price("10")), productEv("b", 1, price("20"))}, want: []string{"", ""}},
		{name: "out of order: an older event is stale and fires nothing",
			evs:  []Event{productEv("a", 0, qty(3)), productEv("c", 5, qty(0)), productEv("b", 2, qty(4)), productEv("d", 6, qty(0))},
			want: []string{"", "out_of_stock 3->0", "stale", ""}},
		{name: "replay of the same event repeats its alerts with the same ids",
			evs:  []Event{productEv("a", 0, qty(3)), productEv("b", 1, qty(0)), productEv("b", 1, qty(0))},
			want: []string{"", "out_of_stock 3->0", "out_of_stock 3->0;repeat"}},
		{name: "same updated_at, ordered by received-at then id",
			evs: []Event{productEv("a", 0, qty(3)),
				withReceived(productEv("b", 1, qty(0)), 2), withReceived(productEv("c", 1, qty(3)), 1)},
			want: []string{"", "out_of_stock 3->0", "stale"}},
		{name: "cooldown holds a second crossing, then re-arms",
			rules: func(r *AlertRules) { r.Cooldown = time.Hour },
			evs:   []Event{productEv("a", 0, qty(3)), productEv("b", 10, qty(0)), productEv("c", 20, qty(3)), productEv("d", 30, qty(0)), productEv("e", 3700, qty(3)), productEv("f", 3800, qty(0))},
			want:  []string{"", "out_of_stock 3->0", "back_in_stock 0->3", "", "back_in_stock 0->3", "out_of_stock 3->0"}},
		{name: "delete then recreate seeds again",
			evs:  []Event{productEv("a", 0, qty(3)), deleted(productEv("b", 1, nil)), productEv("c", 2, qty(0))},
			want: []string{"", "", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := testRules()
			if tc.rules != nil {
				tc.rules(&r)
			}
			got, _ := run(t, r, tc.evs...)
			for i := range tc.evs {
				g := ""
				for j, s := range got[i] {
					if j > 0 {
						g += ";"
					}
					g += s
				}
				if g != tc.want[i] {
					t.Errorf("event %d (%s): fired %q, want %q", i, tc.evs[i].ID, g, tc.want[i])
				}
			}
		})
	}
}

func withReceived(ev Event, sec int) Event {
	ev.ReceivedAt = alertT0.Add(time.Duration(sec) * time.Second)
	return ev
}

func deleted(ev Event) Event {
	ev.Type = ProductDeleted
	return ev
}

func TestAlertIDsAreStableAcrossRetries(t *testing.T) {
	evs := []Event{productEv("a", 0, qty(3)), productEv("b", 1, qty(0))}
	r := testRules()
	facts0, _ := ProductAlertFacts(evs[0])
	_, s0, _ := EvaluateAlerts(r, nil, evs[0], facts0)
	facts1, _ := ProductAlertFacts(evs[1])
	_, _, a1 := EvaluateAlerts(r, &s0, evs[1], facts1)
	_, _, a2 := EvaluateAlerts(r, &s0, evs[1], facts1)
	if len(a1) != 1 || len(a2) != 1 || a1[0].ID != a2[0].ID || a1[0].ID != AlertID(AlertOutOfStock, "7", "b") {
		t.Fatalf("ids differ: %+v %+v", a1, a2)
	}
}

func TestAlertQuietHours(t *testing.T) {
	q, err := ParseQuietHours("22:00-07:00", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   string
		want bool
	}{{"21:59", false}, {"22:00", true}, {"03:00", true}, {"06:59", true}, {"07:00", false}, {"12:00", false}} {
		at, _ := time.Parse("15:04", tc.at)
		if got := q.Contains(at); got != tc.want {
			t.Errorf("%s: quiet %v, want %v", tc.at, got, tc.want)
		}
	}
	day, _ := ParseQuietHours("09:00-17:00", nil)
	if !day.Contains(time.Date(2026, 1, 1, 9, 30, 0, 0, time.UTC)) || day.Contains(time.Date(2026, 1, 1, 17, 0, 0, 0, time.UTC)) {
		t.Error("09:00-17:00 window wrong")
	}
	for _, bad := range []string{"22:00", "25:00-07:00", "07:00-07:00", "x-y"} {
		if _, err := ParseQuietHours(bad, nil); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	r := testRules()
	r.Quiet = q
	// t0 is 12:00: not quiet; an event at 23:00 is.
	evs := []Event{productEv("a", 0, qty(3)), productEv("b", 11*3600, qty(0))}
	var st *AlertState
	var last []Alert
	for _, ev := range evs {
		f, _ := ProductAlertFacts(ev)
		_, next, alerts := EvaluateAlerts(r, st, ev, f)
		st, last = &next, alerts
	}
	if len(last) != 1 || !last[0].Quiet {
		t.Fatalf("alert at 23:00 not quiet: %+v", last)
	}
}

func TestAlertRuleParsing(t *testing.T) {
	if _, err := ParsePercent("0"); err == nil {
		t.Error("0% accepted")
	}
	if _, err := ParsePercent("-5"); err == nil {
		t.Error("-5% accepted")
	}
	if p, err := ParsePercent("2.5"); err != nil || p.Cmp(big.NewRat(5, 2)) != 0 {
		t.Errorf("2.5: %v %v", p, err)
	}
	m, err := ParseOverrides("MUG-1=3, TEE=10", ParseThreshold)
	if err != nil || m["MUG-1"] != 3 || m["TEE"] != 10 {
		t.Errorf("overrides: %v %v", m, err)
	}
	for _, bad := range []string{"MUG-1", "=3", "A=1,A=2", "A=x", "A=-1"} {
		if _, err := ParseOverrides(bad, ParseThreshold); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPricePercentChange(t *testing.T) {
	for _, tc := range [][3]string{{"20.00", "15.00", "-25.0%"}, {"20.00", "22.00", "+10.0%"}, {"0.00", "1.00", ""}} {
		if got := PricePercentChange(tc[0], tc[1]); got != tc[2] {
			t.Errorf("%s->%s: %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
}

// BenchmarkEvaluateAlerts is the cost of one product event's evaluation
// (facts parsed from the event's data, then the rules).
func BenchmarkEvaluateAlerts(b *testing.B) {
	r := testRules()
	prev := productEv("a", 0, map[string]any{"qty": 10, "price": "20.00"})
	ev := productEv("b", 1, map[string]any{"qty": 0, "price": "25.00"})
	f0, _ := ProductAlertFacts(prev)
	_, st, _ := EvaluateAlerts(r, nil, prev, f0)
	b.ReportAllocs()
	for b.Loop() {
		f, err := ProductAlertFacts(ev)
		if err != nil {
			b.Fatal(err)
		}
		_, _, alerts := EvaluateAlerts(r, &st, ev, f)
		if len(alerts) != 2 {
			b.Fatal(alerts)
		}
	}
}

// BenchmarkAlertStateMemory reports the heap held by the alert state of
// 100,000 products (as a map by product id, as the store keeps it).
func BenchmarkAlertStateMemory(b *testing.B) {
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m := make(map[string]AlertState)
		for i := range 100_000 {
			id := strconv.Itoa(i)
			m[id] = AlertState{UpdatedAt: alertT0, ReceivedAt: alertT0, EventID: "evt_" + id + "_0123456789abcdef",
				QtyKnown: true, Qty: int64(i % 50), InStockKnown: true, InStock: true, PriceRef: "24.90"}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB/100k")
		runtime.KeepAlive(m)
	}
}

func TestPlanDigest(t *testing.T) {
	mk := func(n int) []Alert {
		var out []Alert
		for i := range n {
			out = append(out, Alert{ID: fmt.Sprintf("a%02d", i), Trigger: AlertOutOfStock, ProductID: strconv.Itoa(i), Name: "P" + strconv.Itoa(i), Old: "1", New: "0"})
		}
		return out
	}
	rule := DigestRule{Min: 5, First: 2}
	if s, d := PlanDigest(rule, mk(4)); len(s) != 4 || d != nil {
		t.Fatalf("4 alerts: %d singles, digest %v", len(s), d)
	}
	// Duplicates (a window re-read after a revoke) count once.
	window := append(mk(6), mk(6)...)
	s, d := PlanDigest(rule, window)
	if s != nil || d == nil || d.Total != 6 || len(d.First) != 2 || d.Counts[AlertOutOfStock] != 6 {
		t.Fatalf("6 alerts: singles %v, digest %+v", s, d)
	}
	_, again := PlanDigest(rule, mk(6))
	if again.ID != d.ID {
		t.Error("the same window gave another digest id")
	}
	text := DigestText(*d, "")
	want := "6 store alerts: 6 out of stock.\n- Out of stock: P0 — stock went from 1 to 0.\n- Out of stock: P1 — stock went from 1 to 0.\n…and 4 more (full list in the CSV)."
	if text != want {
		t.Errorf("digest text\n got %q\nwant %q", text, want)
	}
	if !strings.HasPrefix(d.CSV, "alert_id,trigger,product_id,sku,name,old,new,at,event_id\na00,out_of_stock,0,,P0,1,0,") {
		t.Errorf("csv: %q", d.CSV)
	}
}
