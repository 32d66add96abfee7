// Package inbox delivers customer notifications into the support inbox: the
// customer-support backend that owns users, conversations and chat history
// and pushes new messages to an open WebSocket. It owns only that HTTP
// conversation; it imports the standard library, pipeline's error
// classification and the connectors' shared HTTP helpers
// (connectors/internal/httpx), nothing else.
//
// Send is safe to repeat: every message carries the event id as its
// Idempotency-Key, and the inbox stores one message per key. That is what
// keeps at-least-once processing from notifying a customer twice.
//
// A customer's e-mail address and the message text are personal data: they
// are logged at debug level only.
package inbox
