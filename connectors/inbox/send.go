package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/shopstream/shopstream/connectors/internal/httpx"
	"github.com/shopstream/shopstream/pipeline"
)

// Message is one notification for one customer.
type Message struct {
	EventID string // idempotency key: the same event id never stores two messages
	Email   string // the customer; personal data, logged at debug level only
	Content string // the text the customer reads; personal data too
}

// Send delivers m into the customer's conversation and returns the inbox's
// message id. It resolves the inbox user (login by e-mail) and their
// conversation, both cached; a 401 or a vanished conversation drops the
// cached ids and retries the whole sequence once before failing permanently.
// Repeating Send with the same EventID returns the same message id.
func (c *Client) Send(ctx context.Context, m Message) (string, error) {
	switch {
	case m.EventID == "":
		return "", pipeline.Permanentf("inbox send: empty event id")
	case strings.TrimSpace(m.Email) == "":
		return "", pipeline.Permanentf("inbox send: no recipient e-mail")
	case strings.TrimSpace(m.Content) == "":
		return "", pipeline.Permanentf("inbox send: empty content")
	}
	start := c.now()
	id, err := c.send(ctx, m)
	if err != nil && (hasStatus(err, http.StatusUnauthorized) || hasStatus(err, http.StatusNotFound)) {
		c.log.Debug("inbox: resolving user and conversation again", "event_id", m.EventID, "email", m.Email, "error", err)
		c.forget(m.Email)
		id, err = c.send(ctx, m)
	}
	if err != nil {
		return "", fmt.Errorf("inbox send: %w", err) // the event id is its own column; errors group across events
	}
	c.log.Debug("inbox message sent", "event_id", m.EventID, "message_id", id, "duration", c.now().Sub(start))
	c.log.Debug("inbox message content", "event_id", m.EventID, "email", m.Email, "content", m.Content)
	return id, nil
}

func (c *Client) send(ctx context.Context, m Message) (string, error) {
	userID, err := c.userID(ctx, m.Email)
	if err != nil {
		return "", err
	}
	convID, err := c.conversationID(ctx, userID)
	if err != nil {
		return "", err
	}
	header := http.Header{"Idempotency-Key": {m.EventID}}
	body := struct {
		InboxUserID json.RawMessage `json:"inboxUserId"`
		Content     string          `json:"content"`
		Role        string          `json:"role"`
		MessageType string          `json:"messageType"`
	}{userID, m.Content, "assistant", "text"}
	id, err := c.call(ctx, "inbox post message", "/api/conversations/"+url.PathEscape(convID)+"/messages", header, body)
	if err != nil {
		return "", err
	}
	return httpx.IDText(id), nil
}

// userID logs the customer into the inbox by e-mail (creating the inbox user
// on first contact) and caches the id.
func (c *Client) userID(ctx context.Context, email string) (json.RawMessage, error) {
	if id, ok := c.users.Get(email); ok {
		return id, nil
	}
	id, err := c.call(ctx, "inbox login", "/api/inbox/users/login", nil,
		map[string]string{"email": email, "tenant": c.cfg.Tenant})
	if err != nil {
		return nil, err
	}
	c.users.Put(email, id)
	return id, nil
}

func (c *Client) conversationID(ctx context.Context, userID json.RawMessage) (string, error) {
	key := httpx.IDText(userID)
	if id, ok := c.convs.Get(key); ok {
		return id, nil
	}
	body := struct {
		InboxUserID json.RawMessage `json:"inboxUserId"`
		Tenant      string          `json:"tenant"`
	}{userID, c.cfg.Tenant}
	id, err := c.call(ctx, "inbox get-or-create conversation", "/api/conversations/get-or-create", nil, body)
	if err != nil {
		return "", err
	}
	c.convs.Put(key, httpx.IDText(id))
	return httpx.IDText(id), nil
}

func (c *Client) forget(email string) {
	if id, ok := c.users.Get(email); ok {
		c.convs.Remove(httpx.IDText(id))
	}
	c.users.Remove(email)
}

func hasStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}
