-- processing_time: per event type and hour of receipt, how long attempts
-- took (processing_ms of every outcome except the ingress's received
-- record, retries included). p95 uses quantileExact: exact, not sampled;
-- it is the value at position floor(0.95 * n) of the sorted attempts.
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
    avg(processing_ms) AS avg_ms,
    quantileExact(0.95)(processing_ms) AS p95_ms,
    max(processing_ms) AS max_ms
FROM webhook_events FINAL
WHERE received_at >= range_from AND received_at < range_to
    AND status != 'received'
GROUP BY event_type, hour
ORDER BY event_type, hour
