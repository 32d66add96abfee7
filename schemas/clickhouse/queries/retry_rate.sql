-- retry_rate: per event type and hour of receipt, the share of attempts
-- that failed transiently and went to a retry tier (status retrying), out
-- of all attempts (every outcome except received). retried_events /
-- events is the same question asked per event: how many needed a retry.
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
    count() AS attempts,
    countIf(status = 'retrying') AS retries,
    retries / attempts AS retry_rate,
    uniqExact(event_id) AS events,
    uniqExactIf(event_id, status = 'retrying') AS retried_events
FROM webhook_events FINAL
WHERE received_at >= range_from AND received_at < range_to
    AND status != 'received'
GROUP BY event_type, hour
ORDER BY event_type, hour
