package evershop

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestExpiry(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	jwt := func(claims string) string {
		e := base64.RawURLEncoding
		return e.EncodeToString([]byte(`{"alg":"HS256"}`)) + "." + e.EncodeToString([]byte(claims)) + ".sig"
	}
	tests := []struct {
		name     string
		token    string
		lifetime time.Duration
		want     time.Time
	}{
		{"exp claim", jwt(`{"exp":1700000900}`), 15 * time.Minute, time.Unix(1_700_000_900, 0)},
		{"fractional exp", jwt(`{"exp":1700000900.5}`), 15 * time.Minute, time.Unix(1_700_000_900, 0)},
		{"no exp: assume lifetime", jwt(`{"sub":"admin"}`), 15 * time.Minute, now.Add(15 * time.Minute)},
		{"opaque token", "not-a-jwt", 15 * time.Minute, now.Add(15 * time.Minute)},
		{"unknown refresh expiry", "opaque", 0, time.Time{}},
		{"padded payload", strings.Replace(jwt(`{"exp":1700000060}`), ".sig", "", 1) + "==.sig", time.Minute, time.Unix(1_700_000_060, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := expiry(tt.token, now, tt.lifetime); !got.Equal(tt.want) {
				t.Errorf("expiry = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{BaseURL: "http://shop:3000", Email: "admin@shop", Password: "pw"}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"url required", func(c *Config) { c.BaseURL = "" }, "EVERSHOP_API_URL"},
		{"email required", func(c *Config) { c.Email = "" }, "EVERSHOP_ADMIN_EMAIL"},
		{"password required", func(c *Config) { c.Password = "" }, "EVERSHOP_ADMIN_PASSWORD"},
		{"page size", func(c *Config) { c.PageSize = -5 }, "PageSize"},
		{"query needs filters", func(c *Config) { c.Query = "{products{total}}" }, "$filters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mutate(&c)
			err := c.Validate()
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if d := ok.withDefaults(); d.PageSize != 500 || d.RequestsPerMinute != 120 || d.Query != ProductsQuery {
		t.Errorf("defaults: %+v", d)
	}
}
