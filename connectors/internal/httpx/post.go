package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// Request is one JSON POST.
type Request struct {
	Op  string // what the client is doing, e.g. "inbox login"; prefixes errors
	URL string
	// Body is encoded as JSON; a json.RawMessage (see EncodeJSON) is sent
	// as it is.
	Body   any
	Bearer string      // sent as "Authorization: Bearer <Bearer>"; empty: no Authorization
	Header http.Header // further headers; Authorization, Content-Type and Accept are set over them
	// Timeout bounds the whole exchange, answer body included.
	Timeout time.Duration
	// MaxResponseBytes bounds what is read of the answer, so a misbehaving
	// proxy cannot make the client buffer gigabytes.
	MaxResponseBytes int64
	// StatusError builds the connector's own error for a non-2xx answer
	// (body is what was read of it); PostJSON classifies it with Classify.
	StatusError func(op string, resp *http.Response, body []byte) error
	// Now is the clock Retry-After dates are read against; nil: time.Now.
	Now func() time.Time
}

// EncodeJSON encodes a request body ahead of PostJSON, for a caller that
// sends it more than once; a value that cannot be encoded is a permanent
// error.
func EncodeJSON(op string, v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, pipeline.Permanent(fmt.Errorf("%s: encode request: %w", op, err))
	}
	return b, nil
}

// PostJSON sends r with Content-Type and Accept application/json and
// returns the body (at most r.MaxResponseBytes) and headers of a 2xx
// answer. A non-2xx answer is r.StatusError, classified by Classify:
// retryable for 408, 429 and 5xx, honouring Retry-After, else permanent.
// A body that cannot be encoded or a request that cannot be built is a
// permanent error; a transport or read failure, a timeout included, is
// retryable.
func PostJSON(ctx context.Context, hc *http.Client, r Request) (body []byte, header http.Header, err error) {
	payload, err := EncodeJSON(r.Op, r.Body)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(payload))
	if err != nil {
		return nil, nil, pipeline.Permanent(fmt.Errorf("%s: build request: %w", r.Op, err))
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if r.Bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.Bearer)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, pipeline.Retryable(fmt.Errorf("%s: %w", r.Op, err), 0)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, r.MaxResponseBytes))
	if err != nil {
		return nil, nil, pipeline.Retryable(fmt.Errorf("%s: read response: %w", r.Op, err), 0)
	}
	if resp.StatusCode/100 != 2 {
		now := time.Now
		if r.Now != nil {
			now = r.Now
		}
		return nil, nil, Classify(r.StatusError(r.Op, resp, body), resp, now())
	}
	return body, resp.Header, nil
}

// Defaults fills in a connector client's optional dependencies: a nil
// httpClient becomes a plain http.Client (per-request timeouts come from
// Request.Timeout), a nil logger one that discards; the logger is tagged
// with component.
func Defaults(httpClient *http.Client, logger *slog.Logger, component string) (*http.Client, *slog.Logger) {
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return httpClient, logger.With("component", component)
}
