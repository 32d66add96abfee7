package evershop

import (
	"errors"
	"strings"
	"time"

	"github.com/shopstream/shopstream/connectors/internal/httpx"
)

// ProductsQuery is the admin GraphQL query of
// fixtures/evershop/admin-graphql-products.request.json, less currentPage
// (a custom Config.Query must take the same $filters variable). It does not
// ask for currentPage: EverShop 2.2.1 answers it
// with HTTP 500 ("Cannot return null for non-nullable field
// ProductCollection.currentPage"), seen in the end-to-end run; paging goes by
// total and the page size instead.
const ProductsQuery = `query Products($filters:[FilterInput]){products(filters:$filters){total items{productId uuid sku name status url description price{regular{value currency}} inventory{qty isInStock} variantGroupId}}}`

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
	httpx.SetDefault(&c.PageSize, DefaultPageSize)
	httpx.SetDefault(&c.RequestsPerMinute, DefaultRequestsPerMinute)
	httpx.SetDefault(&c.Burst, DefaultBurst)
	httpx.SetDefault(&c.Timeout, DefaultTimeout)
	httpx.SetDefault(&c.TokenLifetime, DefaultTokenLifetime)
	httpx.SetDefault(&c.RefreshBefore, DefaultRefreshBefore)
	httpx.SetDefault(&c.MaxRateLimitWait, DefaultMaxRateLimitWait)
	httpx.SetDefault(&c.Query, ProductsQuery)
	return c
}

// Validate reports every problem with the configuration (after defaults),
// naming the setting.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if err := httpx.CheckBaseURL("evershop: BaseURL (EVERSHOP_API_URL)", c.BaseURL); err != nil {
		errs = append(errs, err)
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
