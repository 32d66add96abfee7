package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaultsAndEnvironment(t *testing.T) {
	k, err := loadConfig("", []string{
		"EVERSHOP_WEBHOOK_SECRET=a,b",
		"SHOPSTREAM_KAFKA_BROKERS=127.0.0.1:9092, 127.0.0.2:9092",
		"SHOPSTREAM_RETRY_TIERS=1s,5s",
		"WEBHOOK_SEND_WELCOME_MESSAGE=true",
		"UNRELATED=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig(k, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Secrets) != 2 || len(cfg.KafkaBrokers) != 2 || !cfg.SendWelcome || cfg.SendOrderConfirmation {
		t.Fatalf("cfg = %+v", cfg)
	}
	if cfg.HTTPAddr != ":8080" || cfg.AdminAddr != ":9102" || cfg.CatalogQuiet != 2*time.Second || cfg.CatalogMaxWait != 30*time.Second {
		t.Fatalf("defaults: %+v", cfg)
	}
	if len(cfg.RetryTiers) != 2 || cfg.RetryTiers[1] != 5*time.Second || !cfg.CatalogAutoSync || cfg.InboxTenant != "default" {
		t.Fatalf("cfg = %+v", cfg)
	}
	if cfg.RetryMaxAge != 24*time.Hour || cfg.RetryAfterMax != 5*time.Minute {
		t.Fatalf("retry ages: %s, %s", cfg.RetryMaxAge, cfg.RetryAfterMax)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	base := []string{"EVERSHOP_WEBHOOK_SECRET=s", "SHOPSTREAM_KAFKA_BROKERS=127.0.0.1:9092"}
	cases := []struct {
		name string
		env  []string
		dev  bool
		key  string
	}{
		{"missing brokers", []string{"EVERSHOP_WEBHOOK_SECRET=s"}, false, "SHOPSTREAM_KAFKA_BROKERS"},
		{"broker without port", append(base, "SHOPSTREAM_KAFKA_BROKERS=localhost"), false, "SHOPSTREAM_KAFKA_BROKERS"},
		{"bad duration", append(base, "SHOPSTREAM_CATALOG_QUIET=2x"), false, "SHOPSTREAM_CATALOG_QUIET"},
		{"max wait shorter than quiet", append(base, "SHOPSTREAM_CATALOG_QUIET=10s", "SHOPSTREAM_CATALOG_MAX_WAIT=5s"), false, "SHOPSTREAM_CATALOG_MAX_WAIT"},
		{"bad bool", append(base, "WEBHOOK_AUTO_SYNC_PRODUCTS=yes please"), false, "WEBHOOK_AUTO_SYNC_PRODUCTS"},
		{"bad tiers", append(base, "SHOPSTREAM_RETRY_TIERS=4s,2s"), false, "SHOPSTREAM_RETRY_TIERS"},
		{"max age shorter than the tiers", append(base, "SHOPSTREAM_RETRY_TIERS=1m,2m", "SHOPSTREAM_RETRY_MAX_AGE=2m"), false, "SHOPSTREAM_RETRY_MAX_AGE"},
		{"max age out of range", append(base, "SHOPSTREAM_RETRY_MAX_AGE=1s"), false, "SHOPSTREAM_RETRY_MAX_AGE"},
		{"retry-after max longer than max age", append(base, "SHOPSTREAM_RETRY_MAX_AGE=1h", "SHOPSTREAM_RETRY_AFTER_MAX=2h"), false, "SHOPSTREAM_RETRY_AFTER_MAX"},
		{"retry-after max not a duration", append(base, "SHOPSTREAM_RETRY_AFTER_MAX=soon"), false, "SHOPSTREAM_RETRY_AFTER_MAX"},
		{"bad env", append(base, "SHOPSTREAM_ENV=staging"), false, "SHOPSTREAM_ENV"},
		{"bad address", append(base, "SHOPSTREAM_HTTP_ADDR=8080"), false, "SHOPSTREAM_HTTP_ADDR"},
		{"bad url", append(base, "INBOX_API_URL=ftp://x", "INBOX_API_TOKEN=t"), false, "INBOX_API_URL"},
		{"inbox without token", append(base, "INBOX_API_URL=http://inbox"), false, "INBOX_API_TOKEN"},
		{"coze without dataset", append(base, "COZE_API_TOKEN=t"), false, "COZE_DATASET_ID"},
		{"bad whsec secret", []string{"EVERSHOP_WEBHOOK_SECRET=whsec_***"}, true, "EVERSHOP_WEBHOOK_SECRET"},
		{"body limit out of range", append(base, "SHOPSTREAM_MAX_BODY_BYTES=10"), false, "SHOPSTREAM_MAX_BODY_BYTES"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := loadConfig("", c.env)
			if err == nil {
				_, err = parseConfig(k, c.dev)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Env != c.key || !strings.Contains(err.Error(), c.key) {
				t.Fatalf("err = %v, want one naming %s", err, c.key)
			}
		})
	}
}

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("webhook:\n  secret: from-file\nkafka:\n  brokers: [\"127.0.0.1:9092\"]\ncatalog:\n  quiet: 3s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := loadConfig(good, []string{"SHOPSTREAM_CATALOG_QUIET=4s"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig(k, false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SecretText != "from-file" || cfg.CatalogQuiet != 4*time.Second || cfg.KafkaBrokers[0] != "127.0.0.1:9092" {
		t.Fatalf("environment must win over the file: %+v", cfg)
	}
	typo := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(typo, []byte("catalog:\n  quite: 3s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(typo, nil); err == nil || !strings.Contains(err.Error(), "catalog.quite") {
		t.Fatalf("unknown key accepted: %v", err)
	}
	if _, err := loadConfig(filepath.Join(dir, "missing.yaml"), nil); err == nil {
		t.Fatal("missing file accepted")
	}
}

// TestREADMEListsEverySetting keeps the README's configuration table in
// step with the settings the binary reads.
func TestREADMEListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		if !strings.Contains(string(readme), "| `"+s.Key+"` | `"+s.Env+"` |") {
			t.Errorf("README has no row for %s (%s)", s.Env, s.Key)
		}
	}
}

func TestOnlyTheIngressNeedsTheSecret(t *testing.T) {
	k, err := loadConfig("", []string{"SHOPSTREAM_KAFKA_BROKERS=127.0.0.1:9092"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig(k, false)
	if err != nil {
		t.Fatalf("processor/sink configuration without a secret: %v", err)
	}
	var ce *ConfigError
	if err := requireSecret(cfg); !errors.As(err, &ce) || ce.Env != "EVERSHOP_WEBHOOK_SECRET" {
		t.Fatalf("serve without a secret: %v", err)
	}
}
