-- The customer message the processor actually sent, on the delivered
-- ('completed') outcome of an event that notifies a customer; '' on every
-- other row and on rows written before this migration. The operations
-- console reads it back instead of recomputing the text. It is personal
-- data (it names the customer): grant analysts columns, not the table, if
-- they must not read it. Plain String with a default (ClickHouse 18.16 and
-- current releases).
ALTER TABLE webhook_events
    ADD COLUMN message String DEFAULT ''
