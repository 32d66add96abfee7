package coze

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

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
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		cfg:   cfg.withDefaults(),
		http:  httpClient,
		log:   logger.With("component", "coze"),
		now:   time.Now,
		sleep: sleepCtx,
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
	body, err := json.Marshal(in)
	if err != nil {
		return pipeline.Permanent(fmt.Errorf("%s: encode request: %w", op, err))
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.cfg.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return pipeline.Permanent(fmt.Errorf("%s: build request: %w", op, err))
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	// Agw-Js-Conv: str asks Coze's gateway to render int64 ids as strings,
	// which JSON numbers cannot carry without losing precision.
	req.Header.Set("Agw-Js-Conv", "str")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := c.http.Do(req)
	if err != nil {
		return pipeline.Retryable(fmt.Errorf("%s: %w", op, err), 0)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return pipeline.Retryable(fmt.Errorf("%s: read response: %w", op, err), 0)
	}
	if resp.StatusCode/100 != 2 {
		return classifyStatus(op, resp, raw, c.now())
	}
	var env struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return pipeline.Permanent(fmt.Errorf("%s: decode response %q: %w", op, snippet(raw), err))
	}
	if env.Code != 0 {
		return pipeline.Permanent(&APIError{Op: op, Code: env.Code, Msg: env.Msg, LogID: resp.Header.Get("X-Tt-Logid")})
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return pipeline.Permanent(fmt.Errorf("%s: decode response: %w", op, err))
		}
	}
	return nil
}

// flexID accepts an id rendered as a JSON string (what Agw-Js-Conv: str
// asks for) or as a bare number (what some endpoints still send).
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*f = ""
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*f = flexID(v)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("id %s is neither a string nor a number", s)
	}
	*f = flexID(n.String())
	return nil
}

// flexInt is a count that may arrive as a number or a numeric string.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var id flexID
	if err := id.UnmarshalJSON(b); err != nil {
		return err
	}
	if id == "" {
		*f = 0
		return nil
	}
	var n json.Number = json.Number(id)
	v, err := n.Int64()
	if err != nil {
		return err
	}
	*f = flexInt(v)
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
