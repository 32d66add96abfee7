-- alerts_per_day: store alerts sent per day and trigger (out_of_stock,
-- low_stock, back_in_stock, price_change, dead_letter, held_too_long), and
-- the products they were about. An alert retried after a failed channel has
-- several rows; it counts once (distinct alert ids with a completed row).
-- Delivery rows (event_type alert.delivery, one per channel attempt) are
-- left out: they are how an alert reached a channel, not another alert.
-- Range: received_at >= range_from AND received_at < range_to. Edit the two
-- lines ending in "AS range_from" / "AS range_to" to change it; shopstream
-- substitutes literals on exactly those lines. FINAL collapses re-delivered
-- rows that have not been merged yet.
WITH
    now() - INTERVAL 30 DAY AS range_from,
    now() AS range_to
SELECT
    toDate(processed_at) AS day,
    alert_trigger,
    uniqExact(event_id) AS alerts,
    uniqExact(entity_id) AS products
FROM webhook_events FINAL
WHERE received_at >= range_from AND received_at < range_to
    AND event_type LIKE 'alert.%' AND event_type != 'alert.delivery' AND status = 'completed'
GROUP BY day, alert_trigger
ORDER BY day, alert_trigger
