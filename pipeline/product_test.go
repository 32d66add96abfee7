package pipeline

import (
	"encoding/json"
	"testing"
)

func TestCanonicalPrice(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"postgres numeric", "24.9000", "24.90"},
		{"json number", "24.9", "24.90"},
		{"two decimals kept", "99.99", "99.99"},
		{"integer", "100", "100.00"},
		{"more than two significant decimals kept", "0.125", "0.125"},
		{"trailing zeros beyond two stripped", "1.0050", "1.005"},
		{"exponent", "1e2", "100.00"},
		{"upper-case exponent with fraction", "2.49E1", "24.90"},
		{"negative exponent", "249e-1", "24.90"},
		{"tiny", "5e-5", "0.00005"},
		{"negative", "-5", "-5.00"},
		{"negative zero has no sign", "-0.000", "0.00"},
		{"leading zeros", "007.5", "7.50"},
		{"plus sign", "+3", "3.00"},
		{"bare fraction", ".5", "0.50"},
		{"bare integer point", "5.", "5.00"},
		{"beyond float64 precision", "12345678901234567890.123456789", "12345678901234567890.123456789"},
		{"whitespace", " 9.5 ", "9.50"},
		{"empty is no price", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CanonicalPrice(tc.in)
			if err != nil {
				t.Fatalf("CanonicalPrice(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("CanonicalPrice(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	for _, bad := range []string{"abc", "1.2.3", "1e999", "1e", "--1", ".", "-", "NaN", "Infinity", "$24.90", "24,90", "0x10", "1 000"} {
		t.Run("invalid "+bad, func(t *testing.T) {
			if got, err := CanonicalPrice(bad); err == nil {
				t.Errorf("CanonicalPrice(%q) = %q, want an error", bad, got)
			}
		})
	}
}

func TestParseProductEvent(t *testing.T) {
	tests := []struct {
		name string
		data string
		want Product
	}{
		{"spec seed", `{"id":"123","name":"New Product","description":"Product description","price":99.99,"sku":"PROD-123","qty":100}`,
			Product{ID: "123", SKU: "PROD-123", Name: "New Product", Price: "99.99", Qty: 100, InStock: true,
				Status: ProductEnabled, Description: "Product description"}},
		{"evershop row has no name or stock", `{"product_id":42,"uuid":"5b1f9a52-7c1e-4a3e-9a57-3c2f4f0a9e11","type":"simple","variant_group_id":null,"visibility":true,"group_id":1,"sku":"TSHIRT-RED-M","price":"24.9000","weight":"0.2000","package_id":1,"tax_class":null,"status":true,"created_at":"2026-11-01T10:00:00Z","updated_at":"2026-11-20T09:15:02Z","category_id":3,"no_shipping_required":false,"meta_data":null}`,
			Product{ID: "42", SKU: "TSHIRT-RED-M", Price: "24.90", Status: ProductEnabled}},
		{"deleted seed carries only the id", `{"id":"123"}`, Product{ID: "123", Status: ProductEnabled}},
		{"row status false", `{"product_id":1,"status":false}`, Product{ID: "1", Status: ProductDisabled}},
		{"row status 0", `{"product_id":1,"status":0}`, Product{ID: "1", Status: ProductDisabled}},
		{"row status 1", `{"product_id":1,"status":1}`, Product{ID: "1", Status: ProductEnabled}},
		{"status text", `{"id":1,"status":"Disabled"}`, Product{ID: "1", Status: ProductDisabled}},
		{"qty as text, zero stock", `{"id":1,"qty":"0"}`, Product{ID: "1", Status: ProductEnabled}},
		{"explicit stock flag wins over qty", `{"id":1,"qty":0,"is_in_stock":true}`,
			Product{ID: "1", InStock: true, Status: ProductEnabled}},
		{"qty written as a float", `{"id":1,"qty":1.7e1}`, Product{ID: "1", Qty: 17, InStock: true, Status: ProductEnabled}},
		{"price object", `{"id":1,"price":{"regular":{"value":"9.5","currency":"usd"}}}`,
			Product{ID: "1", Price: "9.50", Currency: "USD", Status: ProductEnabled}},
		{"html description", `{"id":1,"description":"<p>Soft &amp; warm</p>"}`,
			Product{ID: "1", Status: ProductEnabled, Description: "Soft & warm"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProductEvent(json.RawMessage(tc.data))
			if err != nil {
				t.Fatalf("ParseProductEvent: %v", err)
			}
			if got != tc.want {
				t.Errorf("ParseProductEvent\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseProductEventInvalid(t *testing.T) {
	tests := []struct{ name, data string }{
		{"not an object", `[1]`},
		{"no id", `{"sku":"A"}`},
		{"price text", `{"id":1,"price":"cheap"}`},
		{"price bool", `{"id":1,"price":true}`},
		{"fractional qty", `{"id":1,"qty":1.5}`},
		{"qty out of range", `{"id":1,"qty":99999999999999999999}`},
		{"unknown status", `{"id":1,"status":"maybe"}`},
		{"status object", `{"id":1,"status":{}}`},
		{"inventory not an object", `{"id":1,"inventory":7}`},
		{"price.regular not an object", `{"id":1,"price":{"regular":1}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseProductEvent(json.RawMessage(tc.data))
			if !IsPermanent(err) {
				t.Errorf("ParseProductEvent = %+v, %v; want a permanent error", p, err)
			}
		})
	}
}

// adminProductsResponse is fixtures/evershop/admin-graphql-products.response.json.
const adminProductsResponse = `{"data":{"products":{"total":2,"currentPage":1,"items":[
{"productId":42,"uuid":"5b1f9a52-7c1e-4a3e-9a57-3c2f4f0a9e11","sku":"TSHIRT-RED-M","name":"Red T-Shirt, size M","status":1,"url":"/tshirt-red-m","description":[{"id":"b1","size":12,"columns":[{"id":"c1","size":12,"data":{"time":1,"blocks":[{"id":"p1","type":"paragraph","data":{"text":"Soft \"organic\" cotton,\nmachine washable."}}]}}]}],"price":{"regular":{"value":24.9,"currency":"USD"}},"inventory":{"qty":17,"isInStock":true},"variantGroupId":null},
{"productId":43,"uuid":"9c0d7e11-2f3a-4b5c-8d6e-7f8091a2b3c4","sku":"MUG-01","name":"Mug","status":1,"url":"/mug","description":null,"price":{"regular":{"value":9.5,"currency":"USD"}},"inventory":{"qty":0,"isInStock":false},"variantGroupId":null}]}}}`

func TestParseAdminProduct(t *testing.T) {
	var resp struct {
		Data struct {
			Products struct {
				Items []json.RawMessage `json:"items"`
			} `json:"products"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(adminProductsResponse), &resp); err != nil {
		t.Fatal(err)
	}
	items := resp.Data.Products.Items
	tests := []struct {
		name string
		item json.RawMessage
		want Product
	}{
		{"t-shirt with editor.js description", items[0], Product{
			ID: "42", SKU: "TSHIRT-RED-M", Name: "Red T-Shirt, size M", Price: "24.90", Currency: "USD",
			Qty: 17, InStock: true, Status: ProductEnabled, URL: "/tshirt-red-m",
			Description: "Soft \"organic\" cotton,\nmachine washable.",
		}},
		{"mug out of stock without description", items[1], Product{
			ID: "43", SKU: "MUG-01", Name: "Mug", Price: "9.50", Currency: "USD", Status: ProductEnabled, URL: "/mug",
		}},
		{"disabled, uuid only", json.RawMessage(`{"uuid":"u-1","status":0,"price":{"regular":{"value":10,"currency":"EUR"}}}`),
			Product{ID: "u-1", Price: "10.00", Currency: "EUR", Status: ProductDisabled}},
		{"stock flag without qty", json.RawMessage(`{"productId":5,"inventory":{"qty":null,"isInStock":true}}`),
			Product{ID: "5", InStock: true, Status: ProductEnabled}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAdminProduct(tc.item)
			if err != nil {
				t.Fatalf("ParseAdminProduct: %v", err)
			}
			if got != tc.want {
				t.Errorf("ParseAdminProduct\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{`{"sku":"A"}`, `null`, `{"productId":{"x":1}}`} {
		t.Run("invalid "+bad, func(t *testing.T) {
			if _, err := ParseAdminProduct(json.RawMessage(bad)); !IsPermanent(err) {
				t.Errorf("ParseAdminProduct(%s) error = %v, want permanent", bad, err)
			}
		})
	}
}
