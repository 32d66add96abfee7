// Writing to the outbox from subscribers. The only thing a subscriber does is
// INSERT here: EverShop calls a subscriber at most once and drops the event
// if it throws, so no network call happens on that path.
import { randomUUID } from 'node:crypto';
import { envelope, entityId, kindOf } from './mapping.js';

export const OUTBOX = 'shopstream_webhook_outbox';
export const ORDER_STATE = 'shopstream_order_state';

/**
 * The EverShop `event` row being processed, found by name and data (the
 * subscriber is only handed the data). Its uuid becomes the webhook id and
 * its event_id the ordering key, so the outbox follows EverShop's own order
 * even though EverShop runs a batch's subscribers concurrently. The row is in
 * status 'processing' until every subscriber returned.
 */
export async function findSourceEvent(db, name, data) {
  const { rows } = await db.query(
    `SELECT e.event_id, e.uuid, e.created_at FROM "event" e
      WHERE e.name = $1 AND e.status = 'processing' AND e.data::jsonb = $2::jsonb
        AND NOT EXISTS (SELECT 1 FROM ${OUTBOX} o WHERE o.source_event_uuid = e.uuid)
      ORDER BY e.event_id LIMIT 1`,
    [name, JSON.stringify(data)]
  );
  return rows[0] || null;
}

/**
 * Insert one webhook. Idempotent per source event (webhook_id is unique).
 * @param db a pg client or pool
 * @param {{event:string, data:object, source:{event_id,uuid,created_at}|null, timestamp?:string}} w
 * @returns {Promise<boolean>} true when a row was written
 */
export async function insertWebhook(db, { event, data, source, timestamp }) {
  const kind = kindOf(event);
  const id = entityId(event, data);
  const webhookId = source ? String(source.uuid) : randomUUID();
  const at = timestamp || source?.created_at || new Date();
  const body = envelope(event, at, data, webhookId); // the id is signed with the body
  // No source row (called outside EverShop's event manager): take the next
  // value of the event table's own id sequence, which sorts after every
  // event recorded so far.
  const res = await db.query(
    `INSERT INTO ${OUTBOX} (webhook_id, source_event_uuid, seq, kind, event, entity_key, body)
     VALUES ($1, $2, COALESCE($3::bigint, nextval(pg_get_serial_sequence('"event"', 'event_id'))), $4, $5, $6, $7)
     ON CONFLICT (webhook_id) DO NOTHING`,
    [webhookId, source ? source.uuid : null, source ? source.event_id : null, kind, event, `${kind}:${id}`, body]
  );
  if (res.rowCount > 0) {
    db.query(`NOTIFY shopstream_outbox`).catch(() => {});
  }
  return res.rowCount > 0;
}
