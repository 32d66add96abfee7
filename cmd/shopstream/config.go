package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"

	"github.com/shopstream/shopstream/pipeline"
)

// Config is the whole process configuration, typed and validated.
type Config struct {
	Secrets     []pipeline.Secret
	SecretText  string
	Development bool
	LogLevel    slog.Level
	LogFormat   string // auto, text or json

	HTTPAddr     string
	MaxBodyBytes int64
	RetryAfter   time.Duration
	AdminAddr    string

	KafkaBrokers      []string
	PublishTimeout    time.Duration
	Partitions        int32
	Replication       int16
	MinInSyncReplicas int
	DLQRetention      time.Duration

	RetryTiers      []time.Duration
	RetryMaxAge     time.Duration
	RetryAfterMax   time.Duration
	CatalogQuiet    time.Duration
	CatalogMaxWait  time.Duration
	CatalogAutoSync bool

	EverShopURL, EverShopEmail, EverShopPassword    string
	CozeURL, CozeToken, CozeDatasetID, CozeFileType string
	InboxURL, InboxToken, InboxTenant               string
	SendOrderConfirmation, SendWelcome              bool
	ClickHouseDSN                                   string

	ConsoleAddr, ConsoleToken    string
	ConsoleUser, ConsolePassword string
	ConsoleSessionKey            string
	ConsoleMetricsURLs           []string
	ConsoleSecureCookies         string // auto (Secure outside development), true, false

	DataDir      string
	DevKafkaAddr string

	Alerts AlertSettings // alerts.go
}

// RetryPolicy is the retry policy the settings describe.
func (c Config) RetryPolicy() pipeline.RetryPolicy {
	return pipeline.RetryPolicy{Tiers: c.RetryTiers, MaxAge: c.RetryMaxAge, RetryAfterMax: c.RetryAfterMax}
}

// ConfigError names the key that is wrong, in both its spellings.
type ConfigError struct {
	Key, Env string
	Err      error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("config %s (%s): %v", e.Env, e.Key, e.Err)
}

// loadConfig reads defaults, then the YAML file (if any), then the
// environment. environ is os.Environ() in production, a fixed list in tests,
// which keeps them hermetic; only the names of settings are read from it.
func loadConfig(path string, environ []string) (*koanf.Koanf, error) {
	return loadConfigFor(path, environ, false)
}

// loadConfigFor is loadConfig; dev starts from devDefaults.
func loadConfigFor(path string, environ []string, dev bool) (*koanf.Koanf, error) {
	k := koanf.New(".")
	defaults := map[string]any{}
	byEnv := map[string]string{}
	known := map[string]bool{}
	for _, s := range settings {
		defaults[s.Key] = s.Default
		if d, ok := devDefaults[s.Key]; ok && dev {
			defaults[s.Key] = d
		}
		byEnv[s.Env] = s.Key
		known[s.Key] = true
	}
	if err := k.Load(confmap.Provider(defaults, "."), nil); err != nil {
		return nil, err
	}
	if path != "" {
		fk := koanf.New(".")
		if err := fk.Load(file.Provider(path), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		var unknown []string
		for _, key := range fk.Keys() {
			if !known[key] {
				unknown = append(unknown, key)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return nil, fmt.Errorf("config file %s: unknown keys: %s", path, strings.Join(unknown, ", "))
		}
		if err := k.Merge(fk); err != nil {
			return nil, err
		}
	}
	envVals := map[string]any{}
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if key, ok := byEnv[name]; ok {
			envVals[key] = val
		}
	}
	if err := k.Load(confmap.Provider(envVals, "."), nil); err != nil {
		return nil, err
	}
	return k, nil
}

// parseConfig turns the loaded keys into a Config and checks what holds for
// every role: types, ranges and settings that must agree. What a role
// requires is Config.Validate's.
func parseConfig(k *koanf.Koanf) (Config, error) {
	p := parser{k: k}
	c := Config{
		SecretText:  p.str("webhook.secret"),
		Development: p.oneOf("env", "production", "development") == "development",
		HTTPAddr:    p.addr("http.addr"),
		AdminAddr:   p.addr("admin.addr"),

		MaxBodyBytes:      int64(p.intRange("http.max_body_bytes", 1024, 64<<20)),
		RetryAfter:        p.duration("http.retry_after", time.Second, time.Hour),
		KafkaBrokers:      p.list("kafka.brokers"),
		PublishTimeout:    p.duration("kafka.publish_timeout", 100*time.Millisecond, 5*time.Minute),
		Partitions:        int32(p.intRange("kafka.partitions", 1, 10000)),
		Replication:       int16(p.intRange("kafka.replication", 1, 32)),
		MinInSyncReplicas: p.intRange("kafka.min_insync_replicas", 1, 32),
		DLQRetention:      p.duration("kafka.dlq_retention", time.Hour, 10*365*24*time.Hour),
		RetryMaxAge:       p.duration("retry.max_age", time.Minute, 30*24*time.Hour),
		RetryAfterMax:     p.duration("retry.after_max", time.Second, 24*time.Hour),
		CatalogQuiet:      p.duration("catalog.quiet", 10*time.Millisecond, time.Hour),
		CatalogMaxWait:    p.duration("catalog.max_wait", 10*time.Millisecond, 24*time.Hour),
		CatalogAutoSync:   p.boolean("catalog.auto_sync"),

		EverShopURL:      p.url("evershop.api_url"),
		EverShopEmail:    p.str("evershop.admin_email"),
		EverShopPassword: p.str("evershop.admin_password"),
		CozeURL:          p.url("coze.api_url"),
		CozeToken:        p.str("coze.api_token"),
		CozeDatasetID:    p.str("coze.dataset_id"),
		CozeFileType:     p.oneOf("coze.file_type", "txt", "csv"),
		InboxURL:         p.url("inbox.api_url"),
		InboxToken:       p.str("inbox.api_token"),
		InboxTenant:      p.str("inbox.tenant"),

		SendOrderConfirmation: p.boolean("notify.order_confirmation"),
		SendWelcome:           p.boolean("notify.welcome"),
		ClickHouseDSN:         p.str("clickhouse.dsn"),
		ConsoleAddr:           p.addr("console.addr"),
		ConsoleToken:          p.str("console.token"),
		ConsoleUser:           p.str("console.user"),
		ConsolePassword:       p.str("console.password"),
		ConsoleSessionKey:     p.str("console.session_key"),
		ConsoleMetricsURLs:    p.list("console.metrics_urls"),
		ConsoleSecureCookies:  p.oneOf("console.secure_cookies", "auto", "true", "false"),
		DataDir:               p.str("dev.data_dir"),
		DevKafkaAddr:          p.addr("dev.kafka_addr"),
	}
	c.Alerts = parseAlerts(&p, c.EverShopURL)
	level := p.oneOf("log.level", "debug", "info", "warn", "error")
	_ = c.LogLevel.UnmarshalText([]byte(level))
	c.LogFormat = p.oneOf("log.format", logFormatAuto, logFormatText, logFormatJSON)

	if tiers := p.str("retry.tiers"); p.err == nil {
		t, err := pipeline.ParseRetryTiers(tiers)
		p.fail("retry.tiers", err)
		c.RetryTiers = t
	}
	if p.err == nil {
		// The tiers against the max age first, then the clamp against it.
		policy := c.RetryPolicy()
		policy.RetryAfterMax = min(policy.RetryAfterMax, policy.MaxAge)
		p.fail("retry.max_age", policy.Validate())
	}
	if p.err == nil {
		p.fail("retry.after_max", c.RetryPolicy().Validate())
	}
	if p.err == nil && c.CatalogMaxWait < c.CatalogQuiet {
		p.fail("catalog.max_wait", fmt.Errorf("%s is shorter than SHOPSTREAM_CATALOG_QUIET %s", c.CatalogMaxWait, c.CatalogQuiet))
	}
	if p.err == nil && c.MinInSyncReplicas > int(c.Replication) {
		p.fail("kafka.min_insync_replicas", fmt.Errorf("%d is more than the replication factor %d", c.MinInSyncReplicas, c.Replication))
	}
	if p.err == nil && c.SecretText != "" {
		s, err := pipeline.ParseSecrets(c.SecretText)
		p.fail("webhook.secret", err)
		c.Secrets = s
	}
	if p.err == nil {
		for _, b := range c.KafkaBrokers {
			if _, _, err := net.SplitHostPort(b); err != nil {
				p.fail("kafka.brokers", fmt.Errorf("%q is not host:port", b))
				break
			}
		}
	}
	return c, p.err
}

// parser reads typed values and keeps the first error, named by key.
type parser struct {
	k   *koanf.Koanf
	err error
}

func (p *parser) fail(key string, err error) {
	if err == nil || p.err != nil {
		return
	}
	env := ""
	for _, s := range settings {
		if s.Key == key {
			env = s.Env
		}
	}
	p.err = &ConfigError{Key: key, Env: env, Err: err}
}

func (p *parser) str(key string) string {
	switch v := p.k.Get(key).(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(v)
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(v)
	}
}

func (p *parser) list(key string) []string { return pipeline.SplitList(p.str(key)) }

func (p *parser) duration(key string, lo, hi time.Duration) time.Duration {
	s := p.str(key)
	d, err := time.ParseDuration(s)
	if err != nil {
		p.fail(key, fmt.Errorf("%q is not a duration (like 2s, 500ms, 1m)", s))
		return 0
	}
	if d < lo || d > hi {
		p.fail(key, fmt.Errorf("%s is outside %s..%s", d, lo, hi))
	}
	return d
}

func (p *parser) intRange(key string, lo, hi int) int {
	s := p.str(key)
	n, err := strconv.Atoi(s)
	if err != nil {
		p.fail(key, fmt.Errorf("%q is not a whole number", s))
		return 0
	}
	if n < lo || n > hi {
		p.fail(key, fmt.Errorf("%d is outside %d..%d", n, lo, hi))
	}
	return n
}

func (p *parser) boolean(key string) bool {
	s := p.str(key)
	b, err := strconv.ParseBool(s)
	if err != nil {
		p.fail(key, fmt.Errorf("%q is not true or false", s))
	}
	return b
}

func (p *parser) oneOf(key string, allowed ...string) string {
	s := strings.ToLower(p.str(key))
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	p.fail(key, fmt.Errorf("%q is not one of %s", s, strings.Join(allowed, ", ")))
	return allowed[0]
}

func (p *parser) addr(key string) string {
	s := p.str(key)
	if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
		p.fail(key, fmt.Errorf("%q is not a listen address (host:port or :port)", s))
	}
	return s
}

func (p *parser) url(key string) string {
	s := strings.TrimRight(p.str(key), "/")
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(key, fmt.Errorf("%q is not an http(s) URL", s))
	}
	return s
}

// readConfig is what every subcommand calls: defaults (dev's for RoleDev),
// the file, the environment, then what role requires.
func readConfig(path string, role Role) (Config, error) {
	k, err := loadConfigFor(path, os.Environ(), role == RoleDev)
	if err != nil {
		return Config{}, err
	}
	cfg, err := parseConfig(k)
	if err != nil {
		return Config{}, err
	}
	return cfg, cfg.Validate(role)
}
