-- webhook_events: one row per attempt outcome (a pipeline.Outcome read from
-- evershop.events). Must run unchanged on ClickHouse 18.16 (Debian) and on
-- current releases, so it uses no LowCardinality, DateTime64, TTL or CODEC.
--
-- Time: DateTime('UTC') has second precision (DateTime64 is newer than 18.16),
-- so each instant is stored twice: a DateTime for grouping, filtering and
-- partitioning, and an Int64 of unix epoch milliseconds for exact arithmetic
-- (queue time). Int64 rather than UInt64 so differences can go negative
-- (clock skew between hosts) instead of wrapping. An unset time is 0 (1970).
--
-- Dedupe: the analytics sink is at-least-once, so a batch can be inserted
-- twice. Plain MergeTree has no insert deduplication (only Replicated*
-- tables dedupe identical blocks, and a re-delivered batch is rarely cut
-- into identical blocks anyway), so the table is a ReplacingMergeTree whose
-- sorting key identifies one outcome: the event, its status and attempt,
-- and the Kafka record (topic, partition, offset) the outcome was about.
-- A re-delivered outcome has the same key and collapses on merge; the
-- latest ingest wins. Merges happen whenever ClickHouse likes, so every
-- analyst query reads the table with FINAL to be exact before merges too.
-- Duplicates share received_at, hence the same partition, which
-- ReplacingMergeTree requires to collapse them.
CREATE TABLE IF NOT EXISTS webhook_events
(
    event_id        String,                 -- idempotency key (webhook-id or body hash)
    event_type      String,                 -- e.g. order.updated
    entity_id       String,                 -- product/order/customer id
    status          String,                 -- received, completed, retrying, dead, duplicate, superseded, skipped
    attempt         UInt32,                 -- attempt number of this outcome
    error           String,                 -- empty unless the attempt failed
    received_at     DateTime('UTC'),        -- when the ingress accepted the webhook (seconds)
    received_at_ms  Int64,                  -- the same instant, unix epoch milliseconds
    processed_at    DateTime('UTC'),        -- when this outcome was decided (seconds)
    processed_at_ms Int64,                  -- the same instant, unix epoch milliseconds
    processing_ms   Float64,                -- time the attempt took
    topic           String,                 -- Kafka record the outcome is about
    `partition`     Int32,
    `offset`        Int64,
    ingested_at     DateTime('UTC') DEFAULT now()  -- when the sink wrote the row
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(received_at)
ORDER BY (event_type, event_id, status, attempt, topic, `partition`, `offset`)
