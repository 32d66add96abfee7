package pipeline

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestParseCustomer(t *testing.T) {
	tests := []struct {
		name string
		data string
		want Customer
	}{
		{"spec seed", `{"id":"789","email":"customer@example.com","name":"Jane Customer"}`,
			Customer{ID: "789", Email: "customer@example.com", Name: "Jane Customer"}},
		{"evershop row", `{"customer_id":7,"uuid":"a3b1c2d4-0000-4000-8000-000000000007","status":1,"group_id":1,"email":"ana@example.com","full_name":"Ana Lima","created_at":"2026-11-19T08:00:00Z","updated_at":"2026-11-19T08:00:00Z","is_google_login":false}`,
			Customer{ID: "7", Email: "ana@example.com", Name: "Ana Lima"}},
		{"uuid only", `{"uuid":"u-7","email":"a@example.com"}`, Customer{ID: "u-7", Email: "a@example.com"}},
		{"name whitespace collapsed", `{"id":1,"full_name":"  Ana \t Lima "}`, Customer{ID: "1", Name: "Ana Lima"}},
		{"name wins over full_name", `{"id":1,"name":"A","full_name":"B"}`, Customer{ID: "1", Name: "A"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCustomer(json.RawMessage(tc.data))
			if err != nil {
				t.Fatalf("ParseCustomer: %v", err)
			}
			if got != tc.want {
				t.Errorf("ParseCustomer\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseCustomerNeverKeepsPasswordHash(t *testing.T) {
	const hash = "$2b$10$abcdefghijklmnopqrstuvCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	data := `{"customer_id":7,"email":"ana@example.com","full_name":"Ana Lima","password":"` + hash + `","password_hash":"` + hash + `"}`
	c, err := ParseCustomer(json.RawMessage(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, rendered := range []string{fmt.Sprintf("%#v", c), WelcomeMessage(c)} {
		if strings.Contains(rendered, hash) || strings.Contains(strings.ToLower(rendered), "password") {
			t.Errorf("password material in %q", rendered)
		}
	}
}

func TestParseCustomerInvalid(t *testing.T) {
	tests := []struct{ name, data string }{
		{"array", `[{"id":1}]`},
		{"no id", `{"email":"a@example.com"}`},
		{"email is an object", `{"id":1,"email":{"x":1}}`},
		{"name is an array", `{"id":1,"name":["a"]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCustomer(json.RawMessage(tc.data))
			if !IsPermanent(err) {
				t.Errorf("ParseCustomer error = %v, want a permanent error", err)
			}
		})
	}
}
