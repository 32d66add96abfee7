package coze

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/shopstream/shopstream/connectors/internal/httpx"
	"github.com/shopstream/shopstream/internal/clock"
	"github.com/shopstream/shopstream/pipeline"
)

// maxResponseBytes bounds what we read from Coze: answers are small JSON
// objects, and a misbehaving proxy must not make us buffer gigabytes.
const maxResponseBytes = 8 << 20

// Client talks to one Coze knowledge base. It is safe for concurrent use;
// ReplaceCatalog calls are serialised because two interleaved replacements
// would delete each other's documents.
type Client struct {
	cfg  Config
	http *http.Client
	log  *slog.Logger

	replaceMu sync.Mutex
	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration) error
}

// New validates cfg (after defaults) and returns a Client. A nil httpClient
// means a plain http.Client (per-request timeouts come from Config); a nil
// logger discards logs.
func New(cfg Config, httpClient *http.Client, logger *slog.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	httpClient, logger = httpx.Defaults(httpClient, logger, "coze")
	return &Client{
		cfg:   cfg.withDefaults(),
		http:  httpClient,
		log:   logger,
		now:   time.Now,
		sleep: clock.Sleep,
	}, nil
}

// Config returns the effective configuration, defaults applied.
func (c *Client) Config() Config { return c.cfg }

// APIError is a Coze answer with HTTP 200 but a non-zero business code
// (invalid parameters, no permission on the dataset, ...). It is wrapped as
// pipeline.Permanent: the request itself is wrong, and resending it will not
// make it right.
type APIError struct {
	Op    string
	Code  int
	Msg   string
	LogID string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s: coze code %d: %s", e.Op, e.Code, e.Msg)
	if e.LogID != "" {
		s += " (log id " + e.LogID + ")"
	}
	return s
}

// call POSTs in as JSON to path and decodes the answer into out. Every Coze
// knowledge endpoint answers {code, msg, ...}; code != 0 is an APIError.
func (c *Client) call(ctx context.Context, op, path string, in, out any) error {
	raw, header, err := httpx.PostJSON(ctx, c.http, httpx.Request{
		Op: op, URL: c.cfg.BaseURL + path, Body: in, Bearer: c.cfg.Token,
		// Agw-Js-Conv: str asks Coze's gateway to render int64 ids as strings,
		// which JSON numbers cannot carry without losing precision.
		Header:  http.Header{"Agw-Js-Conv": {"str"}},
		Timeout: c.cfg.RequestTimeout, MaxResponseBytes: maxResponseBytes,
		StatusError: newStatusError, Now: c.now,
	})
	if err != nil {
		return err
	}
	var env struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return pipeline.Permanent(fmt.Errorf("%s: decode response %q: %w", op, httpx.Snippet(raw), err))
	}
	if env.Code != 0 {
		return pipeline.Permanent(&APIError{Op: op, Code: env.Code, Msg: env.Msg, LogID: header.Get("X-Tt-Logid")})
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return pipeline.Permanent(fmt.Errorf("%s: decode response: %w", op, err))
		}
	}
	return nil
}
