package pipeline

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestStatusMessage(t *testing.T) {
	row := func(status, prev, ship, prevShip string) Order {
		return Order{ID: "1001", Number: "10001", CustomerEmail: "ana@example.com",
			Status: status, PreviousStatus: prev, ShipmentStatus: ship, PreviousShipmentStatus: prevShip}
	}
	spec := func(status, prev string) Order {
		return Order{ID: "456", Number: "ORD-456", CustomerEmail: "customer@example.com", Status: status, PreviousStatus: prev}
	}
	tests := []struct {
		name     string
		order    Order
		wantKey  string // "" means no message
		wantText string // substring of the message
	}{
		// The announcement rule.
		{"fixture row: shipment beats order status", row("processing", "new", "shipped", "pending"), "shipped", "order #10001 is on its way"},
		{"cancellation beats shipment", row("canceled", "processing", "partially_shipped", "pending"), "canceled", "has been canceled"},
		{"shipment cancellation", row("processing", "processing", "canceled", "pending"), "canceled", "has been canceled"},
		{"order status when shipment did not change", row("processing", "new", "pending", "pending"), "processing", "being prepared"},
		{"order status when shipment went back to pending", row("processing", "new", "pending", "shipped"), "processing", "being prepared"},
		{"completed with delivery announces delivery", row("completed", "processing", "delivered", "shipped"), "delivered", "has been delivered"},
		{"nothing changed", row("processing", "processing", "shipped", "shipped"), "", ""},
		{"new is covered by the confirmation", row("new", "", "pending", ""), "", ""},
		{"spelling change is not a change", row("cancelled", "canceled", "", ""), "", ""},
		{"empty order", Order{ID: "1"}, "", ""},

		// EverShop order statuses.
		{"evershop processing", row("processing", "new", "", ""), "processing", "order #10001 is being prepared"},
		{"evershop completed", row("completed", "processing", "", ""), "completed", "order #10001 is complete"},
		{"evershop closed", row("closed", "completed", "", ""), "closed", "order #10001 has been closed"},
		{"evershop canceled", row("canceled", "new", "", ""), "canceled", "order #10001 has been canceled"},

		// EverShop shipment roll-up.
		{"shipment partially_shipped", row("processing", "processing", "partially_shipped", "pending"), "partially_shipped", "Part of your order #10001 has been shipped"},
		{"shipment shipped", row("processing", "processing", "shipped", "partially_shipped"), "shipped", "on its way"},
		{"shipment partially_delivered", row("processing", "processing", "partially_delivered", "shipped"), "partially_delivered", "Part of your order #10001 has been delivered"},
		{"shipment delivered", row("processing", "processing", "delivered", "shipped"), "delivered", "has been delivered"},
		{"shipment partially_canceled", row("processing", "processing", "partially_canceled", "pending"), "partially_canceled", "Part of your order #10001 has been canceled"},
		{"shipment pending is silent", row("processing", "processing", "pending", "shipped"), "", ""},

		// The spec's statuses, previous status optional.
		{"spec processing", spec("processing", "pending"), "processing", "order ORD-456 is being prepared"},
		{"spec shipped (seed)", spec("shipped", "processing"), "shipped", "Your order ORD-456 is on its way"},
		{"spec delivered without previous", spec("delivered", ""), "delivered", "order ORD-456 has been delivered"},
		{"spec cancelled with two l", spec("cancelled", "processing"), "canceled", "order ORD-456 has been canceled"},
		{"spec status in capitals", spec("Shipped", "processing"), "shipped", "on its way"},

		// Unknown statuses and references.
		{"unknown status humanised", spec("on_hold", "processing"), "on_hold", "its status is now on hold."},
		{"unknown hyphenated status", spec("awaiting-pickup", ""), "awaiting_pickup", "now awaiting pickup."},
		{"no number falls back to the id", Order{ID: "77", Status: "shipped"}, "shipped", "order #77"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NotifiedStatus(tc.order); got != tc.wantKey {
				t.Errorf("NotifiedStatus = %q, want %q", got, tc.wantKey)
			}
			text, ok := StatusMessage(tc.order)
			if ok != (tc.wantKey != "") {
				t.Fatalf("StatusMessage ok = %v (%q), want %v", ok, text, tc.wantKey != "")
			}
			if !ok {
				if text != "" {
					t.Errorf("StatusMessage text %q with ok=false", text)
				}
				return
			}
			if !strings.Contains(text, tc.wantText) {
				t.Errorf("StatusMessage = %q, want it to contain %q", text, tc.wantText)
			}
			if strings.Contains(text, "@") || strings.Contains(text, "%!") {
				t.Errorf("StatusMessage = %q leaks an e-mail or a format error", text)
			}
		})
	}
}

func TestStatusMessageFixtureRow(t *testing.T) {
	o, err := ParseOrder(json.RawMessage(orderUpdatedRowData))
	if err != nil {
		t.Fatal(err)
	}
	text, ok := StatusMessage(o)
	want := "Your order #10001 is on its way! It has been shipped and should reach you soon."
	if !ok || text != want || NotifiedStatus(o) != "shipped" {
		t.Errorf("StatusMessage = %q, %v (key %q); want %q", text, ok, NotifiedStatus(o), want)
	}
}

func TestOrderConfirmationMessage(t *testing.T) {
	tests := []struct {
		name  string
		order Order
		want  string
	}{
		{"full row", Order{ID: "1001", Number: "10001", CustomerName: "Ana Lima", CustomerEmail: "ana@example.com", Currency: "USD", GrandTotal: "49.80"},
			"Thank you for your order, Ana Lima! We've received your order #10001 (total 49.80 USD) and will let you know as soon as it ships."},
		{"spec form without name or total", Order{ID: "456", Number: "ORD-456", CustomerEmail: "customer@example.com"},
			"Thank you for your order! We've received your order ORD-456 and will let you know as soon as it ships."},
		{"name that is an e-mail is not used", Order{ID: "1", CustomerName: "ana@example.com"},
			"Thank you for your order! We've received your order #1 and will let you know as soon as it ships."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := OrderConfirmationMessage(tc.order); got != tc.want {
				t.Errorf("OrderConfirmationMessage\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestWelcomeMessage(t *testing.T) {
	tests := []struct {
		name     string
		customer Customer
		prefix   string
	}{
		{"with name", Customer{ID: "7", Email: "ana@example.com", Name: "Ana Lima"}, "Welcome, Ana Lima! "},
		{"without name", Customer{ID: "7", Email: "ana@example.com"}, "Welcome! "},
		{"name is the e-mail", Customer{ID: "7", Email: "ana@example.com", Name: "ana@example.com"}, "Welcome! "},
		{"messy name", Customer{ID: "7", Name: "  Jane \n Customer "}, "Welcome, Jane Customer! "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := WelcomeMessage(tc.customer)
			if !strings.HasPrefix(got, tc.prefix) {
				t.Errorf("WelcomeMessage = %q, want prefix %q", got, tc.prefix)
			}
			if strings.Contains(got, "@") {
				t.Errorf("WelcomeMessage = %q contains an e-mail address", got)
			}
		})
	}
}
