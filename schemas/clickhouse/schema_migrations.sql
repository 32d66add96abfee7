-- schema_migrations records every migration that ran against this database.
-- The migrator creates it before anything else, so it is not a numbered
-- migration itself. MergeTree (not Replacing): a row is written once per
-- applied version; a second row for a version can only come from two
-- migrators racing, and the migrator reads the earliest row per version.
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    checksum   String,           -- hex SHA-256 of the migration file as embedded
    applied_at DateTime('UTC')
)
ENGINE = MergeTree()
ORDER BY version
