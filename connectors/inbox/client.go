package inbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

const maxResponseBytes = 1 << 20

// Client sends messages into the support inbox. It is safe for concurrent use.
type Client struct {
	cfg   Config
	http  *http.Client
	log   *slog.Logger
	users *lru[string, json.RawMessage] // e-mail → inbox user id (raw JSON, echoed back as sent)
	convs *lru[string, string]          // inbox user id → conversation id
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
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		cfg:   cfg,
		http:  httpClient,
		log:   logger.With("component", "inbox"),
		users: newLRU[string, json.RawMessage](cfg.CacheSize),
		convs: newLRU[string, string](cfg.CacheSize),
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
	body, err := json.Marshal(in)
	if err != nil {
		return nil, pipeline.Permanent(fmt.Errorf("%s: encode request: %w", op, err))
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.cfg.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, pipeline.Permanent(fmt.Errorf("%s: build request: %w", op, err))
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, pipeline.Retryable(fmt.Errorf("%s: %w", op, err), 0)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, pipeline.Retryable(fmt.Errorf("%s: read response: %w", op, err), 0)
	}
	if resp.StatusCode/100 != 2 {
		return nil, classifyStatus(op, resp, raw, c.now())
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
		return nil, pipeline.Permanent(fmt.Errorf("%s: decode response %q: %w", op, snippet(raw), err))
	}
	if out.Code != nil && *out.Code != 0 {
		return nil, pipeline.Permanent(&APIError{Op: op, Code: *out.Code, Msg: out.Msg + out.Message})
	}
	if idText(out.Data.ID) == "" {
		return nil, pipeline.Permanentf("%s: answer has no data.id: %s", op, snippet(raw))
	}
	return out.Data.ID, nil
}

// idText renders a raw JSON id for a URL path or a log line.
func idText(raw json.RawMessage) string {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return ""
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return str
	}
	return s
}
