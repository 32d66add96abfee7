package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopstream/shopstream/pipeline"
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
	cfg, err := parseConfig(k)
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
		role Role
		key  string
	}{
		{"missing brokers", []string{"EVERSHOP_WEBHOOK_SECRET=s"}, RoleServe, "SHOPSTREAM_KAFKA_BROKERS"},
		{"broker without port", append(base, "SHOPSTREAM_KAFKA_BROKERS=localhost"), RoleServe, "SHOPSTREAM_KAFKA_BROKERS"},
		{"bad duration", append(base, "SHOPSTREAM_CATALOG_QUIET=2x"), RoleServe, "SHOPSTREAM_CATALOG_QUIET"},
		{"max wait shorter than quiet", append(base, "SHOPSTREAM_CATALOG_QUIET=10s", "SHOPSTREAM_CATALOG_MAX_WAIT=5s"), RoleServe, "SHOPSTREAM_CATALOG_MAX_WAIT"},
		{"bad bool", append(base, "WEBHOOK_AUTO_SYNC_PRODUCTS=yes please"), RoleServe, "WEBHOOK_AUTO_SYNC_PRODUCTS"},
		{"bad tiers", append(base, "SHOPSTREAM_RETRY_TIERS=4s,2s"), RoleServe, "SHOPSTREAM_RETRY_TIERS"},
		{"max age shorter than the tiers", append(base, "SHOPSTREAM_RETRY_TIERS=1m,2m", "SHOPSTREAM_RETRY_MAX_AGE=2m"), RoleServe, "SHOPSTREAM_RETRY_MAX_AGE"},
		{"max age out of range", append(base, "SHOPSTREAM_RETRY_MAX_AGE=1s"), RoleServe, "SHOPSTREAM_RETRY_MAX_AGE"},
		{"retry-after max longer than max age", append(base, "SHOPSTREAM_RETRY_MAX_AGE=1h", "SHOPSTREAM_RETRY_AFTER_MAX=2h"), RoleServe, "SHOPSTREAM_RETRY_AFTER_MAX"},
		{"retry-after max not a duration", append(base, "SHOPSTREAM_RETRY_AFTER_MAX=soon"), RoleServe, "SHOPSTREAM_RETRY_AFTER_MAX"},
		{"bad env", append(base, "SHOPSTREAM_ENV=staging"), RoleServe, "SHOPSTREAM_ENV"},
		{"bad address", append(base, "SHOPSTREAM_HTTP_ADDR=8080"), RoleServe, "SHOPSTREAM_HTTP_ADDR"},
		{"bad url", append(base, "INBOX_API_URL=ftp://x", "INBOX_API_TOKEN=t"), RoleServe, "INBOX_API_URL"},
		{"inbox without token", append(base, "INBOX_API_URL=http://inbox"), RoleDev, "INBOX_API_TOKEN"},
		{"coze without dataset", append(base, "COZE_API_TOKEN=t"), RoleDev, "COZE_DATASET_ID"},
		{"bad whsec secret", []string{"EVERSHOP_WEBHOOK_SECRET=whsec_***"}, RoleDev, "EVERSHOP_WEBHOOK_SECRET"},
		{"body limit out of range", append(base, "SHOPSTREAM_MAX_BODY_BYTES=10"), RoleServe, "SHOPSTREAM_MAX_BODY_BYTES"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := loadConfig("", c.env)
			var cfg Config
			if err == nil {
				cfg, err = parseConfig(k)
			}
			if err == nil {
				err = cfg.Validate(c.role)
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
	cfg, err := parseConfig(k)
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

// TestValidateByRole: each role requires what it uses, and only that; the
// error names the key in both spellings.
func TestValidateByRole(t *testing.T) {
	full := Config{
		KafkaBrokers: []string{"127.0.0.1:9092"}, Secrets: []pipeline.Secret{{}}, ClickHouseDSN: "clickhouse://127.0.0.1:9000/default",
		InboxURL: "http://inbox", InboxToken: "t", CozeToken: "t", CozeDatasetID: "d", CatalogAutoSync: true,
	}
	without := func(mutate func(*Config)) Config {
		c := full
		mutate(&c)
		return c
	}
	noBrokers := without(func(c *Config) { c.KafkaBrokers = nil })
	noSecret := without(func(c *Config) { c.Secrets = nil })
	noDSN := without(func(c *Config) { c.ClickHouseDSN = "" })
	noInbox := without(func(c *Config) { c.InboxURL, c.InboxToken = "", "" })
	noCoze := without(func(c *Config) { c.CozeToken, c.CozeDatasetID = "", "" })
	cases := []struct {
		name string
		role Role
		cfg  Config
		key  string // "" = valid
	}{
		{"serve: complete", RoleServe, full, ""},
		{"serve: brokers", RoleServe, noBrokers, "SHOPSTREAM_KAFKA_BROKERS"},
		{"serve: secret", RoleServe, noSecret, "EVERSHOP_WEBHOOK_SECRET"},
		{"serve: no ClickHouse, inbox or Coze needed", RoleServe, Config{KafkaBrokers: full.KafkaBrokers, Secrets: full.Secrets}, ""},
		{"process: without a secret", RoleProcess, noSecret, ""},
		{"process: brokers", RoleProcess, noBrokers, "SHOPSTREAM_KAFKA_BROKERS"},
		{"process: inbox", RoleProcess, noInbox, "INBOX_API_URL"},
		{"process: Coze while catalog sync is on", RoleProcess, noCoze, "COZE_API_TOKEN"},
		{"process: no Coze with catalog sync off", RoleProcess, without(func(c *Config) { c.CozeToken, c.CozeDatasetID, c.CatalogAutoSync = "", "", false }), ""},
		{"process: inbox without token", RoleProcess, without(func(c *Config) { c.InboxToken = "" }), "INBOX_API_TOKEN"},
		{"process: EverShop without login", RoleProcess, without(func(c *Config) { c.EverShopURL = "http://shop" }), "EVERSHOP_ADMIN_EMAIL"},
		{"sink: ClickHouse", RoleSink, noDSN, "CLICKHOUSE_DSN"},
		{"sink: brokers", RoleSink, noBrokers, "SHOPSTREAM_KAFKA_BROKERS"},
		{"sink: without a secret or inbox", RoleSink, without(func(c *Config) { c.Secrets, c.InboxURL = nil, "" }), ""},
		{"dev: nothing required", RoleDev, Config{}, ""},
		{"dev: Coze without dataset", RoleDev, Config{CozeToken: "t"}, "COZE_DATASET_ID"},
		{"topics: brokers", RoleTopics, noBrokers, "SHOPSTREAM_KAFKA_BROKERS"},
		{"topics: nothing else", RoleTopics, Config{KafkaBrokers: full.KafkaBrokers}, ""},
		{"migrate: ClickHouse", RoleMigrate, noDSN, "CLICKHOUSE_DSN"},
		{"migrate: no brokers needed", RoleMigrate, Config{ClickHouseDSN: full.ClickHouseDSN}, ""},
		{"replay: brokers", RoleReplay, noBrokers, "SHOPSTREAM_KAFKA_BROKERS"},
		{"sign: secret", RoleSign, Config{}, "EVERSHOP_WEBHOOK_SECRET"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate(c.role)
			if c.key == "" {
				if err != nil {
					t.Fatalf("Validate(%s) = %v, want nil", c.role, err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Env != c.key || !strings.Contains(err.Error(), c.key) || !strings.Contains(err.Error(), ce.Key) {
				t.Fatalf("Validate(%s) = %v, want a ConfigError naming %s", c.role, err, c.key)
			}
		})
	}
	if err := full.Validate("console-of-the-future"); err == nil || !strings.Contains(err.Error(), "console-of-the-future") {
		t.Fatalf("unknown role: %v", err)
	}
}

// TestEveryCommandHasARole: a subcommand reading the configuration has
// requirements; adding one without a line in roleNeeds fails here.
func TestEveryCommandHasARole(t *testing.T) {
	for _, c := range commands() {
		if _, ok := roleNeeds[c.name]; !ok {
			t.Errorf("command %s has no entry in roleNeeds", c.name)
		}
	}
}
