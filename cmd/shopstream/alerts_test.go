package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestAlertSettings: defaults off; a wrong rule fails at start naming its
// key; overrides, quiet hours and the webhook secret parse.
func TestAlertSettings(t *testing.T) {
	base := []string{"SHOPSTREAM_KAFKA_BROKERS=127.0.0.1:9092"}
	parse := func(env ...string) (Config, error) {
		k, err := loadConfig("", append(append([]string(nil), base...), env...))
		if err != nil {
			t.Fatal(err)
		}
		return parseConfig(k)
	}
	cfg, err := parse()
	if err != nil || cfg.Alerts.Rules.Enabled() {
		t.Fatalf("defaults: %+v %v (alerts must default off)", cfg.Alerts.Rules, err)
	}
	cfg, err = parse("WEBHOOK_INVENTORY_ALERTS=true", "WEBHOOK_PRICE_ALERTS=true", "SHOPSTREAM_ALERT_SKU_LOW_STOCK=MUG-1=3,TEE=0",
		"SHOPSTREAM_ALERT_CATEGORY_PRICE_PERCENT=12=2.5", "SHOPSTREAM_ALERT_QUIET_HOURS=22:00-07:00", "SHOPSTREAM_ALERT_TIMEZONE=Europe/Berlin",
		"SHOPSTREAM_ALERT_WEBHOOK_SECRET=whsec_c2hvcHN0cmVhbQ==", "EVERSHOP_API_URL=https://shop.example.com",
		"EVERSHOP_ADMIN_EMAIL=a@example.com", "EVERSHOP_ADMIN_PASSWORD=x")
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Alerts.Rules
	if !r.Inventory || !r.Price || r.LowStock != 5 || r.SKULowStock["MUG-1"] != 3 || r.CategoryPricePercent["12"].FloatString(1) != "2.5" ||
		!r.Quiet.Contains(time.Date(2026, 1, 1, 22, 30, 0, 0, r.Quiet.Loc)) || r.Cooldown != time.Hour ||
		cfg.Alerts.WebhookSecret == nil || cfg.Alerts.StoreURL != "https://shop.example.com" {
		t.Fatalf("parsed %+v / %+v", r, cfg.Alerts)
	}
	if err := cfg.Alerts.validate(false); err == nil || !strings.Contains(err.Error(), "SHOPSTREAM_ALERT_STAFF_EMAIL") {
		t.Fatalf("triggers on without a channel: %v", err)
	}
	for env, key := range map[string]string{
		"SHOPSTREAM_ALERT_LOW_STOCK=-1":                  "alerts.low_stock",
		"SHOPSTREAM_ALERT_PRICE_PERCENT=0":               "alerts.price_percent",
		"SHOPSTREAM_ALERT_SKU_LOW_STOCK=MUG-1":           "alerts.sku_low_stock",
		"SHOPSTREAM_ALERT_SKU_PRICE_PERCENT=A=1,A=2":     "alerts.sku_price_percent",
		"SHOPSTREAM_ALERT_CATEGORY_LOW_STOCK=3=many":     "alerts.category_low_stock",
		"SHOPSTREAM_ALERT_CATEGORY_PRICE_PERCENT=3=-1":   "alerts.category_price_percent",
		"SHOPSTREAM_ALERT_QUIET_HOURS=22-7":              "alerts.quiet_hours",
		"SHOPSTREAM_ALERT_TIMEZONE=Mars/Olympus":         "alerts.timezone",
		"SHOPSTREAM_ALERT_COOLDOWN=soon":                 "alerts.cooldown",
		"WEBHOOK_PRICE_ALERTS=maybe":                     "alerts.price",
		"SHOPSTREAM_ALERT_WEBHOOK_URL=ftp://example.com": "alerts.webhook_url",
	} {
		_, err := parse(env)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != key {
			t.Errorf("%s: %v, want an error naming %s", env, err, key)
		}
	}
}
