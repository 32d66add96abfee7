package pipeline

import "testing"

// EverShop's admin opens a product at /admin/products/edit/<uuid>; an alert
// raised from an event that carries the uuid links there, one without it
// falls back to the numeric id.
func TestAlertAdminURLUsesTheProductUUID(t *testing.T) {
	const uuid = "932bb4a3-ec3c-4bdd-be6f-cea073dcda62"
	r := testRules()
	var st *AlertState
	var fired []Alert
	for _, ev := range []Event{
		productEv("e1", 1, map[string]any{"uuid": uuid, "qty": 1}),
		productEv("e2", 2, map[string]any{"uuid": uuid, "qty": 0}),
	} {
		facts, err := ProductAlertFacts(ev)
		if err != nil {
			t.Fatalf("facts of %s: %v", ev.ID, err)
		}
		_, next, alerts := EvaluateAlerts(r, st, ev, facts)
		st, fired = &next, alerts
	}
	if len(fired) != 1 || fired[0].Trigger != AlertOutOfStock || fired[0].ProductUUID != uuid {
		t.Fatalf("fired %+v, want one out_of_stock alert with the uuid", fired)
	}
	want := "https://shop.example.com/admin/products/edit/" + uuid
	if got := fired[0].AdminURL("https://shop.example.com/"); got != want {
		t.Errorf("AdminURL = %q, want %q", got, want)
	}
	if got := AlertText(fired[0], "https://shop.example.com"); got != "Out of stock: Blue mug (SKU MUG-1) — stock went from 1 to 0. "+want {
		t.Errorf("AlertText = %q", got)
	}
	noUUID := Alert{Trigger: AlertLowStock, ProductID: "7"}
	if got := noUUID.AdminURL("https://shop.example.com"); got != "https://shop.example.com/admin/products/edit/7" {
		t.Errorf("fallback AdminURL = %q", got)
	}
	if got := fired[0].AdminURL(""); got != "" {
		t.Errorf("no store URL: AdminURL = %q, want none", got)
	}
}
