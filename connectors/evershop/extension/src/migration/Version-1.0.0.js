// The outbox: one row per webhook, written by the subscribers, drained by the
// sender. Rows are kept after delivery (status 'sent') for a few days and for
// good when shopstream refused them (status 'failed'), for inspection.
import { execute } from '@evershop/postgres-query-builder';

export default async (connection) => {
  await execute(
    connection,
    `CREATE TABLE IF NOT EXISTS "shopstream_webhook_outbox" (
      "id" BIGINT GENERATED ALWAYS AS IDENTITY (START WITH 1 INCREMENT BY 1) PRIMARY KEY,
      "webhook_id" varchar NOT NULL,
      "source_event_uuid" UUID DEFAULT NULL,
      "seq" BIGINT NOT NULL,
      "kind" varchar NOT NULL,
      "event" varchar NOT NULL,
      "entity_key" varchar NOT NULL,
      "body" text NOT NULL,
      "status" varchar NOT NULL DEFAULT 'pending',
      "attempts" INT NOT NULL DEFAULT 0,
      "next_attempt_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
      "last_http_status" INT DEFAULT NULL,
      "last_error" text DEFAULT NULL,
      "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
      "sent_at" TIMESTAMP WITH TIME ZONE DEFAULT NULL,
      CONSTRAINT "SHOPSTREAM_OUTBOX_WEBHOOK_ID_UNIQUE" UNIQUE ("webhook_id"),
      CONSTRAINT "SHOPSTREAM_OUTBOX_STATUS_CHECK" CHECK ("status" IN ('pending', 'sent', 'failed'))
    )`
  );
  await execute(
    connection,
    `CREATE INDEX IF NOT EXISTS "SHOPSTREAM_OUTBOX_PENDING_IDX"
       ON "shopstream_webhook_outbox" ("entity_key", "seq", "id") WHERE "status" = 'pending'`
  );
  await execute(
    connection,
    `CREATE INDEX IF NOT EXISTS "SHOPSTREAM_OUTBOX_SOURCE_IDX" ON "shopstream_webhook_outbox" ("source_event_uuid")`
  );
  // Last order and shipment status announced per order, so each order.updated
  // carries the previous values of exactly the change it describes.
  await execute(
    connection,
    `CREATE TABLE IF NOT EXISTS "shopstream_order_state" (
      "order_id" INT PRIMARY KEY,
      "status" varchar DEFAULT NULL,
      "shipment_status" varchar DEFAULT NULL,
      "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP
    )`
  );
};
