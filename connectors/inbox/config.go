package inbox

import (
	"errors"
	"strings"
	"time"

	"github.com/shopstream/shopstream/connectors/internal/httpx"
)

// Defaults.
const (
	DefaultTenant  = "default"
	DefaultTimeout = 10 * time.Second
	// DefaultCacheSize bounds the e-mail → user id and user → conversation
	// caches; a miss only costs one extra idempotent request.
	DefaultCacheSize = 10000
)

// Config configures a Client. Zero fields take the defaults above.
type Config struct {
	BaseURL   string        // INBOX_API_URL, e.g. https://support.example.com
	Token     string        // INBOX_API_TOKEN, sent as a Bearer token
	Tenant    string        // INBOX_TENANT
	Timeout   time.Duration // per HTTP request
	CacheSize int
}

func (c Config) withDefaults() Config {
	c.BaseURL = strings.TrimRight(strings.TrimSpace(c.BaseURL), "/")
	httpx.SetDefault(&c.Tenant, DefaultTenant)
	httpx.SetDefault(&c.Timeout, DefaultTimeout)
	httpx.SetDefault(&c.CacheSize, DefaultCacheSize)
	return c
}

// Validate reports every problem with the configuration (after defaults),
// naming the setting.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if err := httpx.CheckBaseURL("inbox: BaseURL (INBOX_API_URL)", c.BaseURL); err != nil {
		errs = append(errs, err)
	}
	if c.Token == "" {
		errs = append(errs, errors.New("inbox: Token (INBOX_API_TOKEN) is required"))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("inbox: Timeout must not be negative"))
	}
	if c.CacheSize < 0 {
		errs = append(errs, errors.New("inbox: CacheSize must not be negative"))
	}
	return errors.Join(errs...)
}
