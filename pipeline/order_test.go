package pipeline

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Data objects of fixtures/webhooks/order.*.json.
const (
	orderUpdatedSeedData = `{"id":"456","orderNumber":"ORD-456","customerId":"789","customerEmail":"customer@example.com","status":"shipped","previousStatus":"processing","items":[]}`
	orderUpdatedRowData  = `{"order_id":1001,"uuid":"0e6c2a8e-5d0b-4d77-a1c9-2b8f6c1d9a40","order_number":"10001","customer_id":7,"customer_email":"ana@example.com","customer_full_name":"Ana Lima","status":"processing","previous_status":"new","payment_status":"paid","shipment_status":"shipped","previous_shipment_status":"pending","updated_at":"2026-11-21T15:02:11Z"}`
	orderCreatedRowData  = `{"order_id":1001,"uuid":"0e6c2a8e-5d0b-4d77-a1c9-2b8f6c1d9a40","order_number":"10001","customer_id":7,"customer_email":"ana@example.com","customer_full_name":"Ana Lima","currency":"USD","grand_total":"49.8000","sub_total":"49.8000","status":"new","payment_status":"pending","shipment_status":"pending","created_at":"2026-11-20T09:20:00Z","updated_at":"2026-11-20T09:20:00Z"}`
)

func TestParseOrder(t *testing.T) {
	tests := []struct {
		name string
		data string
		want Order
	}{
		{"spec camelCase seed", orderUpdatedSeedData, Order{
			ID: "456", Number: "ORD-456", CustomerID: "789", CustomerEmail: "customer@example.com",
			Status: "shipped", PreviousStatus: "processing",
		}},
		{"evershop row with status and shipment change", orderUpdatedRowData, Order{
			ID: "1001", Number: "10001", CustomerID: "7", CustomerEmail: "ana@example.com", CustomerName: "Ana Lima",
			Status: "processing", PreviousStatus: "new", ShipmentStatus: "shipped", PreviousShipmentStatus: "pending",
			PaymentStatus: "paid", UpdatedAt: time.Date(2026, 11, 21, 15, 2, 11, 0, time.UTC),
		}},
		{"evershop created row with total", orderCreatedRowData, Order{
			ID: "1001", Number: "10001", CustomerID: "7", CustomerEmail: "ana@example.com", CustomerName: "Ana Lima",
			Status: "new", ShipmentStatus: "pending", PaymentStatus: "pending",
			UpdatedAt: time.Date(2026, 11, 20, 9, 20, 0, 0, time.UTC), Currency: "USD", GrandTotal: "49.80",
		}},
		{"numeric order number and huge id keep their digits",
			`{"order_id":12345678901234567890123,"order_number":10001,"grand_total":49.8}`,
			Order{ID: "12345678901234567890123", Number: "10001", GrandTotal: "49.80"}},
		{"id wins over order_id", `{"id":"a","order_id":1}`, Order{ID: "a"}},
		{"uuid is the last resort", `{"uuid":"u-1","order_id":null}`, Order{ID: "u-1"}},
		{"statuses are lower-cased and trimmed", `{"id":1,"status":" Shipped ","previousStatus":"PROCESSING"}`,
			Order{ID: "1", Status: "shipped", PreviousStatus: "processing"}},
		{"postgres timestamp", `{"id":1,"updated_at":"2026-11-21 15:02:11.5+02"}`,
			Order{ID: "1", UpdatedAt: time.Date(2026, 11, 21, 13, 2, 11, 5e8, time.UTC)}},
		{"zone-less timestamp is UTC", `{"id":1,"updatedAt":"2026-11-21T15:02:11"}`,
			Order{ID: "1", UpdatedAt: time.Date(2026, 11, 21, 15, 2, 11, 0, time.UTC)}},
		{"unreadable timestamp is left zero", `{"id":1,"updated_at":"yesterday"}`, Order{ID: "1"}},
		{"non-decimal total kept as sent", `{"id":1,"grand_total":"n/a","currency":"eur"}`,
			Order{ID: "1", GrandTotal: "n/a", Currency: "EUR"}},
		{"empty strings fall through to the next key", `{"id":1,"orderNumber":"","order_number":"7"}`,
			Order{ID: "1", Number: "7"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseOrder(json.RawMessage(tc.data))
			if err != nil {
				t.Fatalf("ParseOrder: %v", err)
			}
			if got != tc.want {
				t.Errorf("ParseOrder\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseOrderInvalid(t *testing.T) {
	tests := []struct {
		name, data, wantErr string
	}{
		{"array", `[]`, "object"},
		{"string", `"order"`, "object"},
		{"null", `null`, "object"},
		{"empty", ``, "object"},
		{"no id", `{"order_number":"1"}`, "no entity id"},
		{"id is an object", `{"id":{"n":1}}`, "id"},
		{"status is an object", `{"id":1,"status":{"v":"new"}}`, "status"},
		{"email is a bool", `{"id":1,"customer_email":true}`, "customer_email"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseOrder(json.RawMessage(tc.data))
			if err == nil {
				t.Fatal("ParseOrder: want an error")
			}
			if !IsPermanent(err) {
				t.Errorf("error %v is not permanent", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}

// TestParseFixtureWebhooks parses every webhook fixture with the
// parser for its kind, so a fixture change that breaks parsing shows here.
func TestParseFixtureWebhooks(t *testing.T) {
	files := webhookFixtures(t)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			body, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var env struct {
				Event string          `json:"event"`
				Data  json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatal(err)
			}
			var id string
			switch kind, _ := KindOf(env.Event); kind {
			case KindOrder:
				o, err := ParseOrder(env.Data)
				id = o.ID
				if err != nil {
					t.Fatal(err)
				}
			case KindCustomer:
				c, err := ParseCustomer(env.Data)
				id = c.ID
				if err != nil {
					t.Fatal(err)
				}
			case KindProduct:
				p, err := ParseProductEvent(env.Data)
				id = p.ID
				if err != nil {
					t.Fatal(err)
				}
			default:
				t.Fatalf("unknown event %q", env.Event)
			}
			if id == "" {
				t.Error("no id")
			}
		})
	}
}
