-- out_of_stock_longest: the products that were out of stock longest in the
-- range. Stock alerts are edge-triggered, so a product's out_of_stock and
-- back_in_stock alerts alternate: the time out of stock is the sum of its
-- back_in_stock times minus the sum of its out_of_stock times, plus the
-- range end when the last alert is out_of_stock (still out) and minus the
-- range start when the first is back_in_stock (out since before the range).
-- A cooldown (SHOPSTREAM_ALERT_COOLDOWN) that suppressed one alert of a pair
-- breaks the alternation for that product: keep it shorter than the spells
-- you care about. Seconds per product, the spells, and whether it is out now.
-- Range: received_at >= range_from AND received_at < range_to. Edit the two
-- lines ending in "AS range_from" / "AS range_to" to change it; shopstream
-- substitutes literals on exactly those lines. The WITH sits on the SELECT
-- that reads webhook_events (18.16 does not see it in subqueries, and its
-- lambdas cannot capture columns, hence no array pairing).
SELECT
    entity_id AS product_id,
    toInt64(sum_backs) - toInt64(sum_outs)
        + if(open, toInt64(range_end), 0)
        - if(starts_back, toInt64(range_start), 0) AS out_of_stock_seconds,
    outs + starts_back AS spells,
    open AS out_now
FROM
(
    SELECT
        entity_id,
        sumIf(at, alert_trigger = 'out_of_stock') AS sum_outs,
        sumIf(at, alert_trigger = 'back_in_stock') AS sum_backs,
        countIf(alert_trigger = 'out_of_stock') AS outs,
        countIf(alert_trigger = 'back_in_stock') AS backs,
        maxIf(at, alert_trigger = 'out_of_stock') > maxIf(at, alert_trigger = 'back_in_stock') OR backs = 0 AS open,
        minIf(at, alert_trigger = 'back_in_stock') < minIf(at, alert_trigger = 'out_of_stock') AND backs > 0 OR outs = 0 AS starts_back,
        any(start_of_range) AS range_start,
        any(end_of_range) AS range_end
    FROM
    (
        WITH
            now() - INTERVAL 30 DAY AS range_from,
            now() AS range_to
        SELECT DISTINCT event_id, entity_id, alert_trigger, toUInt32(processed_at) AS at,
            toUInt32(range_from) AS start_of_range, toUInt32(range_to) AS end_of_range
        FROM webhook_events FINAL
        WHERE received_at >= range_from AND received_at < range_to
            AND status = 'completed' AND alert_trigger IN ('out_of_stock', 'back_in_stock')
            AND event_type != 'alert.delivery'
    )
    GROUP BY entity_id
)
ORDER BY out_of_stock_seconds DESC, product_id
LIMIT 50
