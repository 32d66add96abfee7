-- Console search copies: what the event search summarises (status, attempt,
-- error, the instant that orders outcomes), stored next to what it filters
-- on, so that a search reads one contiguous range of one table instead of
-- one granule per event id per part of webhook_events_by_event (0003).
--
--   webhook_events_search_by_received   by received_at: the events of a
--                                       time range, "dead in the last day"
--   webhook_events_search_by_entity     by entity id, then received_at:
--                                       "find order 10001"
--
-- Every row of an event's Kafka record carries that record's received_at
-- and the event's entity id, so an event's rows lie together in both:
-- the search picks its candidate events from a range and summarises them
-- from the same range (connectors/clickhouse/console.go, FindEvents).
--
-- Same de-duplication as 0003: a materialized view copies every insert into
-- webhook_events, duplicates included (the sink is at-least-once), each
-- table is a ReplacingMergeTree(ingested_at) whose sorting key holds the
-- whole outcome key (event_type, event_id, status, attempt, topic,
-- partition, offset), so a re-delivered outcome collapses on merge, and the
-- queries aggregate per event as the pre-0003 queries did on webhook_events.
--
-- Runs unchanged on ClickHouse 18.16 and current releases. Re-runnable:
-- every CREATE is IF NOT EXISTS, and a backfill run twice only adds
-- duplicates of existing outcome keys, which the queries and merges handle.
CREATE TABLE IF NOT EXISTS webhook_events_search_by_received
(
    received_at     DateTime('UTC'),
    event_id        String,
    event_type      String,
    entity_id       String,
    status          String,
    attempt         UInt32,
    error           String,
    processed_at_ms Int64,
    topic           String,
    `partition`     Int32,
    `offset`        Int64,
    ingested_at     DateTime('UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(received_at)
ORDER BY (received_at, event_id, event_type, status, attempt, topic, `partition`, `offset`);

CREATE TABLE IF NOT EXISTS webhook_events_search_by_entity
(
    entity_id       String,
    received_at     DateTime('UTC'),
    event_id        String,
    event_type      String,
    status          String,
    attempt         UInt32,
    error           String,
    processed_at_ms Int64,
    topic           String,
    `partition`     Int32,
    `offset`        Int64,
    ingested_at     DateTime('UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(received_at)
ORDER BY (entity_id, received_at, event_id, event_type, status, attempt, topic, `partition`, `offset`)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS webhook_events_search_by_received_mv TO webhook_events_search_by_received AS
SELECT received_at, event_id, event_type, entity_id, status, attempt, error, processed_at_ms, topic, `partition`, `offset`, ingested_at
FROM webhook_events;

CREATE MATERIALIZED VIEW IF NOT EXISTS webhook_events_search_by_entity_mv TO webhook_events_search_by_entity AS
SELECT entity_id, received_at, event_id, event_type, status, attempt, error, processed_at_ms, topic, `partition`, `offset`, ingested_at
FROM webhook_events;

-- Backfill: what webhook_events held before the views existed, ingested_at
-- copied as is (INSERT ... SELECT, not POPULATE, which would lose rows
-- inserted while it runs).
INSERT INTO webhook_events_search_by_received (received_at, event_id, event_type, entity_id, status, attempt, error, processed_at_ms,
    topic, `partition`, `offset`, ingested_at)
SELECT received_at, event_id, event_type, entity_id, status, attempt, error, processed_at_ms, topic, `partition`, `offset`, ingested_at
FROM webhook_events;

INSERT INTO webhook_events_search_by_entity (entity_id, received_at, event_id, event_type, status, attempt, error, processed_at_ms,
    topic, `partition`, `offset`, ingested_at)
SELECT entity_id, received_at, event_id, event_type, status, attempt, error, processed_at_ms, topic, `partition`, `offset`, ingested_at
FROM webhook_events;
