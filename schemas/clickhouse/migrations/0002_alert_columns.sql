-- Store alerts are outcome rows too (event_type alert.<trigger>, event_id the
-- alert id, entity_id the product or the failed event's entity): these
-- columns carry what the alert reports. Empty for every other row. Plain
-- String with a default, so rows written before this migration read as ''
-- (runs on ClickHouse 18.16 and current releases).
ALTER TABLE webhook_events
    ADD COLUMN alert_trigger String DEFAULT '',  -- out_of_stock, low_stock, back_in_stock, price_change, dead_letter, held_too_long
    ADD COLUMN alert_old String DEFAULT '',      -- the value before the crossing (stock, price; attempts for dead_letter)
    ADD COLUMN alert_new String DEFAULT ''       -- the value after it (stock, price; the error for dead_letter)
