// x-evershop-signature: lowercase hex HMAC-SHA256 of the exact body bytes.
// The body is signed as the bytes that will be sent, never re-serialized.
import { createHmac } from 'node:crypto';

/**
 * @param {string} secret EVERSHOP_WEBHOOK_SECRET (used as its UTF-8 bytes)
 * @param {string|Buffer} body the exact request body
 * @returns {string} lowercase hex digest
 */
export function sign(secret, body) {
  if (!secret) throw new Error('webhook secret is empty');
  return createHmac('sha256', Buffer.from(secret, 'utf8'))
    .update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body)
    .digest('hex');
}

/**
 * Headers for one delivery of an outbox row.
 * @param {string} secret
 * @param {Buffer} body
 * @param {string} webhookId stable id of the outbox row. Sent for the
 *   operator's logs only: the signature does not cover headers, so shopstream
 *   reads the event id from the body's `webhook_id` (see mapping.envelope).
 */
export function webhookHeaders(secret, body, webhookId) {
  return {
    'content-type': 'application/json',
    'x-evershop-signature': sign(secret, body),
    'x-evershop-webhook-id': webhookId,
    'user-agent': 'shopstream-evershop-webhooks/1.0'
  };
}
