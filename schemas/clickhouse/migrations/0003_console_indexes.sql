-- Console indexes: copies of webhook_events, each sorted for one of the
-- operations console's reads, so that a page reads the rows it shows
-- instead of scanning the week. webhook_events is sorted by event type,
-- then event id: a lookup by one event id skips well, anything by entity or
-- by time reads the whole table.
--
--   webhook_events_by_event      by event id: an event's timeline, the
--                                summary of the events a search found,
--                                "delivered" for a page of dead letters
--   webhook_events_by_entity     by entity id: "find order 10001"
--   webhook_events_by_received   by received_at: the newest events of a
--                                range, accepted per minute
--   webhook_events_by_processed  by processed_at: outcomes, success rate and
--                                p50/p99 of the last hour, catalog syncs
--
-- A materialized view copies every insert into webhook_events into each,
-- so they hold the same rows, duplicates included: the sink is
-- at-least-once and a batch can arrive twice. Like webhook_events each is a
-- ReplacingMergeTree(ingested_at) whose sorting key holds the whole outcome
-- key (event_type, event_id, status, attempt, topic, partition, offset), so
-- a re-delivered outcome collapses on merge, and before merges the
-- console's queries count distinct outcome keys (uniqExact) as they did on
-- webhook_events. Why indexes and not per-minute aggregates: see README.md.
--
-- Only webhook_events_by_event carries every column the console shows (the
-- error text, timings, the Kafka record); the other three carry what their
-- reads filter, sort and count on. The two point-lookup indexes use small
-- granules (1,024 rows): a search reads one granule per event or entity,
-- and event ids are random.
--
-- Runs unchanged on ClickHouse 18.16 and current releases (projections
-- would be the modern way; they do not exist in 18.16).
--
-- Re-runnable: every CREATE is IF NOT EXISTS. The backfills at the end copy
-- the rows written before the views existed (INSERT ... SELECT, not
-- POPULATE, which would lose rows inserted while it runs). A row copied
-- twice (one inserted between a CREATE VIEW and its backfill, or every row
-- when a migration that failed half-way runs again) is one more duplicate
-- of the same outcome key, which the queries and merges already handle.
CREATE TABLE IF NOT EXISTS webhook_events_by_event
(
    event_id        String,
    event_type      String,
    entity_id       String,
    status          String,
    attempt         UInt32,
    error           String,
    received_at     DateTime('UTC'),
    received_at_ms  Int64,
    processed_at    DateTime('UTC'),
    processed_at_ms Int64,
    processing_ms   Float64,
    topic           String,
    `partition`     Int32,
    `offset`        Int64,
    ingested_at     DateTime('UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(received_at)
ORDER BY (event_id, event_type, status, attempt, topic, `partition`, `offset`)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS webhook_events_by_entity
(
    entity_id   String,
    event_type  String,
    event_id    String,
    status      String,
    attempt     UInt32,
    received_at DateTime('UTC'),
    topic       String,
    `partition` Int32,
    `offset`    Int64,
    ingested_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(received_at)
ORDER BY (entity_id, event_type, event_id, status, attempt, topic, `partition`, `offset`)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS webhook_events_by_received
(
    received_at DateTime('UTC'),
    event_type  String,
    event_id    String,
    status      String,
    attempt     UInt32,
    topic       String,
    `partition` Int32,
    `offset`    Int64,
    ingested_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(received_at)
ORDER BY (received_at, event_type, event_id, status, attempt, topic, `partition`, `offset`);

-- Partitioned by processed_at: a re-delivered outcome has the same
-- processed_at, hence the same partition, which it needs to collapse.
CREATE TABLE IF NOT EXISTS webhook_events_by_processed
(
    processed_at    DateTime('UTC'),
    event_type      String,
    event_id        String,
    status          String,
    attempt         UInt32,
    error           String,
    processed_at_ms Int64,
    processing_ms   Float64,
    topic           String,
    `partition`     Int32,
    `offset`        Int64,
    ingested_at     DateTime('UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(processed_at)
ORDER BY (processed_at, event_type, event_id, status, attempt, topic, `partition`, `offset`);

CREATE MATERIALIZED VIEW IF NOT EXISTS webhook_events_by_event_mv TO webhook_events_by_event AS
SELECT event_id, event_type, entity_id, status, attempt, error, received_at, received_at_ms,
       processed_at, processed_at_ms, processing_ms, topic, `partition`, `offset`, ingested_at
FROM webhook_events;

CREATE MATERIALIZED VIEW IF NOT EXISTS webhook_events_by_entity_mv TO webhook_events_by_entity AS
SELECT entity_id, event_type, event_id, status, attempt, received_at, topic, `partition`, `offset`, ingested_at
FROM webhook_events;

CREATE MATERIALIZED VIEW IF NOT EXISTS webhook_events_by_received_mv TO webhook_events_by_received AS
SELECT received_at, event_type, event_id, status, attempt, topic, `partition`, `offset`, ingested_at
FROM webhook_events;

CREATE MATERIALIZED VIEW IF NOT EXISTS webhook_events_by_processed_mv TO webhook_events_by_processed AS
SELECT processed_at, event_type, event_id, status, attempt, error, processed_at_ms, processing_ms,
       topic, `partition`, `offset`, ingested_at
FROM webhook_events;

-- Backfill: what webhook_events held before the views existed. ingested_at
-- is copied as is, so a copied row and a view's row of the same outcome
-- collapse alike.
INSERT INTO webhook_events_by_event (event_id, event_type, entity_id, status, attempt, error, received_at, received_at_ms,
    processed_at, processed_at_ms, processing_ms, topic, `partition`, `offset`, ingested_at)
SELECT event_id, event_type, entity_id, status, attempt, error, received_at, received_at_ms,
       processed_at, processed_at_ms, processing_ms, topic, `partition`, `offset`, ingested_at
FROM webhook_events;

INSERT INTO webhook_events_by_entity (entity_id, event_type, event_id, status, attempt, received_at, topic, `partition`, `offset`, ingested_at)
SELECT entity_id, event_type, event_id, status, attempt, received_at, topic, `partition`, `offset`, ingested_at
FROM webhook_events;

INSERT INTO webhook_events_by_received (received_at, event_type, event_id, status, attempt, topic, `partition`, `offset`, ingested_at)
SELECT received_at, event_type, event_id, status, attempt, topic, `partition`, `offset`, ingested_at
FROM webhook_events;

INSERT INTO webhook_events_by_processed (processed_at, event_type, event_id, status, attempt, error, processed_at_ms, processing_ms,
    topic, `partition`, `offset`, ingested_at)
SELECT processed_at, event_type, event_id, status, attempt, error, processed_at_ms, processing_ms,
       topic, `partition`, `offset`, ingested_at
FROM webhook_events;
