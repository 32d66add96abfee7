-- dlq_count: per event type and hour of receipt, the outcomes that sent an
-- event to evershop.dlq (status dead) and the distinct events behind them.
-- Hours with traffic but no dead letters show 0, so a dashboard has no gaps.
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
    countIf(status = 'dead') AS dead,
    uniqExactIf(event_id, status = 'dead') AS dead_events
FROM webhook_events FINAL
WHERE received_at >= range_from AND received_at < range_to
GROUP BY event_type, hour
ORDER BY event_type, hour
