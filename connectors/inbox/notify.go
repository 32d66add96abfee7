package inbox

import (
	"context"

	"github.com/shopstream/shopstream/pipeline"
)

// Client is the processor's notifier when a support inbox is configured.
var _ pipeline.Notifier = (*Client)(nil)

// Notify delivers a pipeline notification into the customer's
// conversation (Send, keyed by the event id).
func (c *Client) Notify(ctx context.Context, n pipeline.Notification) error {
	_, err := c.Send(ctx, Message{EventID: n.EventID, Email: n.Email, Content: n.Text})
	return err
}
