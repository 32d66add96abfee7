-- queue_time: per event type and hour of receipt, how long events waited
-- between the ingress accepting them and their first attempt starting.
-- Per event: queue_ms = min over attempt outcomes of (processed_at_ms -
-- processing_ms), i.e. when the first attempt began, minus received_at_ms.
-- first_outcome_ms = first processed_at_ms - received_at_ms (queue time plus
-- the first attempt). Events without an attempt yet are left out. Hosts'
-- clocks are compared, so skew shows as small or negative values.
-- Range: received_at >= range_from AND received_at < range_to. Edit the two
-- lines ending in "AS range_from" / "AS range_to" to change it (ClickHouse
-- 18.16 has no {name:Type} query parameters); shopstream substitutes
-- literals on exactly those lines. FINAL collapses re-delivered rows that
-- have not been merged yet.
SELECT
    event_type,
    hour,
    count() AS events,
    avg(queue_ms) AS avg_queue_ms,
    quantileExact(0.95)(queue_ms) AS p95_queue_ms,
    max(queue_ms) AS max_queue_ms,
    avg(first_outcome_ms) AS avg_first_outcome_ms
FROM
(
    WITH
        now() - INTERVAL 7 DAY AS range_from,
        now() AS range_to
    SELECT
        event_type,
        event_id,
        toStartOfHour(min(received_at)) AS hour,
        minIf(received_at_ms, received_at_ms > 0) AS received_ms,
        minIf(processed_at_ms - processing_ms, status != 'received' AND processed_at_ms > 0) - received_ms AS queue_ms,
        minIf(processed_at_ms, status != 'received' AND processed_at_ms > 0) - received_ms AS first_outcome_ms
    FROM webhook_events FINAL
    WHERE received_at >= range_from AND received_at < range_to
    GROUP BY event_type, event_id
    HAVING received_ms > 0 AND countIf(status != 'received' AND processed_at_ms > 0) > 0
)
GROUP BY event_type, hour
ORDER BY event_type, hour
