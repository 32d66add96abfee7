package evershop

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// ProductsQuery is the admin GraphQL query of
// fixtures/evershop/admin-graphql-products.request.json. A custom
// Config.Query must take the same $filters variable.
const ProductsQuery = `query Products($filters:[FilterInput]){products(filters:$filters){total currentPage items{productId uuid sku name status url description price{regular{value currency}} inventory{qty isInStock} variantGroupId}}}`

// Defaults.
const (
	DefaultPageSize          = 500 // EverShop has no cap on limit; fewer, larger pages spend less of the rate limit
	DefaultRequestsPerMinute = 120 // EverShop's limit on /api/** per client address
	DefaultBurst             = 1   // with burst 1, no sliding minute ever sees more than RequestsPerMinute
	DefaultTimeout           = 30 * time.Second
	DefaultTokenLifetime     = 15 * time.Minute // assumed when the access token carries no exp
	DefaultRefreshBefore     = time.Minute
	DefaultMaxRateLimitWait  = 2 * time.Minute
)

// Config configures a Client. Zero fields take the defaults above.
type Config struct {
	BaseURL           string // EVERSHOP_API_URL, the store's origin
	Email             string // EVERSHOP_ADMIN_EMAIL
	Password          string // EVERSHOP_ADMIN_PASSWORD
	PageSize          int
	RequestsPerMinute int
	Burst             int
	Timeout           time.Duration // per HTTP request
	TokenLifetime     time.Duration
	RefreshBefore     time.Duration // refresh the access token this long before it expires
	// MaxRateLimitWait is the longest Retry-After waited inline. A longer
	// one is returned as a retryable error, so the caller pauses instead of
	// holding a goroutine and a half-read catalog.
	MaxRateLimitWait time.Duration
	Query            string // default ProductsQuery
}

func (c Config) withDefaults() Config {
	c.BaseURL = strings.TrimRight(strings.TrimSpace(c.BaseURL), "/")
	setInt(&c.PageSize, DefaultPageSize)
	setInt(&c.RequestsPerMinute, DefaultRequestsPerMinute)
	setInt(&c.Burst, DefaultBurst)
	setDur(&c.Timeout, DefaultTimeout)
	setDur(&c.TokenLifetime, DefaultTokenLifetime)
	setDur(&c.RefreshBefore, DefaultRefreshBefore)
	setDur(&c.MaxRateLimitWait, DefaultMaxRateLimitWait)
	if c.Query == "" {
		c.Query = ProductsQuery
	}
	return c
}

func setInt(v *int, def int) {
	if *v == 0 {
		*v = def
	}
}

func setDur(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// Validate reports every problem with the configuration (after defaults),
// naming the setting.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.BaseURL == "" {
		errs = append(errs, errors.New("evershop: BaseURL (EVERSHOP_API_URL) is required"))
	} else if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("evershop: BaseURL (EVERSHOP_API_URL) %q is not an http(s) URL", c.BaseURL))
	}
	if c.Email == "" {
		errs = append(errs, errors.New("evershop: Email (EVERSHOP_ADMIN_EMAIL) is required"))
	}
	if c.Password == "" {
		errs = append(errs, errors.New("evershop: Password (EVERSHOP_ADMIN_PASSWORD) is required"))
	}
	if c.PageSize < 1 || c.RequestsPerMinute < 1 || c.Burst < 1 {
		errs = append(errs, errors.New("evershop: PageSize, RequestsPerMinute and Burst must be positive"))
	}
	if c.Timeout < 0 || c.TokenLifetime < 0 || c.RefreshBefore < 0 || c.MaxRateLimitWait < 0 {
		errs = append(errs, errors.New("evershop: Timeout, TokenLifetime, RefreshBefore and MaxRateLimitWait must not be negative"))
	}
	if !strings.Contains(c.Query, "$filters") {
		errs = append(errs, errors.New("evershop: Query must take the $filters variable"))
	}
	return errors.Join(errs...)
}
