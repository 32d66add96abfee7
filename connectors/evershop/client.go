package evershop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/shopstream/shopstream/connectors/internal/httpx"
	"github.com/shopstream/shopstream/internal/clock"
	"github.com/shopstream/shopstream/pipeline"
)

// maxResponseBytes bounds one answer: a page of 500 products with Editor.js
// descriptions is a few MiB at most.
const maxResponseBytes = 64 << 20

// maxRateLimitRetries bounds consecutive 429s on one request, in case a
// server keeps answering 429 with a tiny Retry-After.
const maxRateLimitRetries = 10

// defaultRateLimitWait is used when a 429 carries no usable Retry-After.
const defaultRateLimitWait = 5 * time.Second

// Client lists an EverShop catalog. It is safe for concurrent use; logins
// and refreshes are single-flight.
type Client struct {
	cfg     Config
	http    *http.Client
	log     *slog.Logger
	limiter *limiter

	authMu sync.Mutex
	tok    tokens

	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// New validates cfg (after defaults) and returns a Client. A nil httpClient
// means a plain http.Client (Config.Timeout bounds each request); a nil
// logger discards logs.
func New(cfg Config, httpClient *http.Client, logger *slog.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	httpClient, logger = httpx.Defaults(httpClient, logger, "evershop")
	return &Client{
		cfg:     cfg,
		http:    httpClient,
		log:     logger,
		limiter: newLimiter(cfg.RequestsPerMinute, cfg.Burst),
		now:     time.Now,
		sleep:   clock.Sleep,
	}, nil
}

// Config returns the effective configuration, defaults applied.
func (c *Client) Config() Config { return c.cfg }

// post sends one JSON request through the rate limiter and returns the 2xx
// body. A 429 is waited out (Retry-After, at most Config.MaxRateLimitWait)
// and the request repeated, in encoded once; every other failure is
// returned classified.
func (c *Client) post(ctx context.Context, op, path, bearer string, in any) ([]byte, error) {
	body, err := httpx.EncodeJSON(op, in)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if err := c.limiter.wait(ctx); err != nil {
			return nil, pipeline.Retryable(fmt.Errorf("%s: waiting for the rate limiter: %w", op, err), 0)
		}
		raw, _, err := httpx.PostJSON(ctx, c.http, httpx.Request{
			Op: op, URL: c.cfg.BaseURL + path, Body: body, Bearer: bearer,
			Timeout: c.cfg.Timeout, MaxResponseBytes: maxResponseBytes,
			StatusError: newStatusError, Now: c.now,
		})
		var se *StatusError
		if err == nil || !asStatus(err, &se) || se.Status != http.StatusTooManyRequests {
			return raw, err
		}
		wait, _ := pipeline.RetryAfter(err)
		if wait <= 0 {
			wait = defaultRateLimitWait
		}
		if wait > c.cfg.MaxRateLimitWait || attempt >= maxRateLimitRetries {
			return nil, pipeline.Retryable(fmt.Errorf("%s: rate limited %d times: %w", op, attempt+1, err), wait)
		}
		c.log.Warn("evershop rate limited, waiting", "op", op, "retry_after", wait)
		c.limiter.holdUntil(c.now().Add(wait))
		if err := c.sleep(ctx, wait); err != nil {
			return nil, pipeline.Retryable(fmt.Errorf("%s: waiting out 429: %w", op, err), wait)
		}
	}
}

func asStatus(err error, target **StatusError) bool {
	return errors.As(err, target)
}

func hasStatus(err error, status int) bool {
	var se *StatusError
	return asStatus(err, &se) && se.Status == status
}
