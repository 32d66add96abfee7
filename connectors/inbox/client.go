package inbox

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/shopstream/shopstream/connectors/internal/httpx"
	"github.com/shopstream/shopstream/internal/lru"
	"github.com/shopstream/shopstream/pipeline"
)

const maxResponseBytes = 1 << 20

// Client sends messages into the support inbox. It is safe for concurrent use.
type Client struct {
	cfg   Config
	http  *http.Client
	log   *slog.Logger
	users *lru.Cache[string, json.RawMessage] // e-mail → inbox user id (raw JSON, echoed back as sent)
	convs *lru.Cache[string, string]          // inbox user id → conversation id
	now   func() time.Time
}

// New validates cfg (after defaults) and returns a Client. A nil httpClient
// means a plain http.Client (Config.Timeout bounds each request); a nil
// logger discards logs.
func New(cfg Config, httpClient *http.Client, logger *slog.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	httpClient, logger = httpx.Defaults(httpClient, logger, "inbox")
	return &Client{
		cfg:   cfg,
		http:  httpClient,
		log:   logger,
		users: lru.New[string, json.RawMessage](cfg.CacheSize),
		convs: lru.New[string, string](cfg.CacheSize),
		now:   time.Now,
	}, nil
}

// Config returns the effective configuration, defaults applied.
func (c *Client) Config() Config { return c.cfg }

// APIError is an answer with a 2xx status but a non-zero code. It is
// wrapped as pipeline.Permanent: the inbox understood and refused.
type APIError struct {
	Op   string
	Code int
	Msg  string
}

func (e *APIError) Error() string { return fmt.Sprintf("%s: inbox code %d: %s", e.Op, e.Code, e.Msg) }

// call POSTs in as JSON and returns data.id of the {"code":0,"data":{"id"}}
// answer, as the raw JSON the inbox sent (a number or a string).
func (c *Client) call(ctx context.Context, op, path string, header http.Header, in any) (json.RawMessage, error) {
	raw, _, err := httpx.PostJSON(ctx, c.http, httpx.Request{
		Op: op, URL: c.cfg.BaseURL + path, Body: in, Bearer: c.cfg.Token, Header: header,
		Timeout: c.cfg.Timeout, MaxResponseBytes: maxResponseBytes,
		StatusError: newStatusError, Now: c.now,
	})
	if err != nil {
		return nil, err
	}
	var out struct {
		Code    *int   `json:"code"`
		Msg     string `json:"msg"`
		Message string `json:"message"`
		Data    struct {
			ID json.RawMessage `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, pipeline.Permanent(fmt.Errorf("%s: decode response %q: %w", op, httpx.Snippet(raw), err))
	}
	if out.Code != nil && *out.Code != 0 {
		return nil, pipeline.Permanent(&APIError{Op: op, Code: *out.Code, Msg: out.Msg + out.Message})
	}
	if httpx.IDText(out.Data.ID) == "" {
		return nil, pipeline.Permanentf("%s: answer has no data.id: %s", op, httpx.Snippet(raw))
	}
	return out.Data.ID, nil
}
