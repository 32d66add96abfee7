-- success_rate: per event type and hour of receipt, the share of terminal
-- outcomes that completed. Terminal outcomes are completed, dead, duplicate,
-- superseded and skipped: each ends an event's processing. retrying is not
-- terminal (another attempt follows) and received is the ingress record.
-- success_rate is NULL while an hour has no terminal outcome yet.
-- Range: received_at >= range_from AND received_at < range_to. Edit the two
-- lines ending in "AS range_from" / "AS range_to" to change it (ClickHouse
-- 18.16 has no {name:Type} query parameters); shopstream substitutes
-- literals on exactly those lines. FINAL collapses re-delivered rows that
-- have not been merged yet.
WITH
    now() - INTERVAL 7 DAY AS range_from,
    now() AS range_to
SELECT
    event_type,
    toStartOfHour(received_at) AS hour,
    countIf(status = 'received') AS received,
    countIf(status IN ('completed', 'dead', 'duplicate', 'superseded', 'skipped')) AS terminal,
    countIf(status = 'completed') AS completed,
    countIf(status = 'dead') AS dead,
    countIf(status = 'duplicate') AS duplicate,
    countIf(status = 'superseded') AS superseded,
    countIf(status = 'skipped') AS skipped,
    if(terminal = 0, NULL, completed / terminal) AS success_rate
FROM webhook_events FINAL
WHERE received_at >= range_from AND received_at < range_to
GROUP BY event_type, hour
ORDER BY event_type, hour
