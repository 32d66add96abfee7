-- top_errors: per event type and hour of receipt, the five most frequent
-- error texts of failed attempts (retrying or dead), with how many
-- outcomes and distinct events carried each.
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
    error,
    count() AS outcomes,
    countIf(status = 'dead') AS dead,
    uniqExact(event_id) AS events
FROM webhook_events FINAL
WHERE received_at >= range_from AND received_at < range_to
    AND status IN ('retrying', 'dead') AND error != ''
GROUP BY event_type, hour, error
ORDER BY event_type, hour, outcomes DESC, error
LIMIT 5 BY event_type, hour
