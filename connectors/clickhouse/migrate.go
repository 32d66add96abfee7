package clickhouse

import (
	"context"
	"fmt"
	"log/slog"

	chschema "github.com/shopstream/shopstream/schemas/clickhouse"
)

// appliedMigration is a row of schema_migrations.
type appliedMigration struct {
	name, checksum string
}

// Migrate brings the database up to the embedded migrations and returns the
// versions it applied (none when already current). It refuses to run when
// a recorded migration's text changed since it was applied, or when the
// database holds a migration this binary does not know: either way the
// schema is not what this code expects, and guessing would hide it.
//
// ClickHouse has no transactional DDL, so every migration is written to be
// re-runnable (IF NOT EXISTS; 18.16 has no ADD COLUMN IF NOT EXISTS, so
// apply skips the columns an ALTER TABLE ... ADD COLUMN would add again:
// see withoutExistingColumns); a migration is recorded only after all its
// statements succeeded, and one that failed half-way simply runs again.
// There is no lock either: run migrations from one place (shopstream
// migrate, or one sink instance at start-up).
func (s *Store) Migrate(ctx context.Context) (applied []int, err error) {
	if err := s.conn.Exec(ctx, chschema.MigrationsTableDDL()); err != nil {
		return nil, Classify("create schema_migrations", err)
	}
	recorded, err := s.recordedMigrations(ctx)
	if err != nil {
		return nil, err
	}
	known := map[int]bool{}
	for _, m := range chschema.Migrations() {
		known[m.Version] = true
		if r, ok := recorded[m.Version]; ok && r.checksum != m.Checksum() {
			return nil, fmt.Errorf("clickhouse migrate: migration %d (%s) was applied with checksum %s but the embedded file now has %s; "+
				"applied migrations are immutable, add a new migration instead of editing this one",
				m.Version, m.Name, r.checksum, m.Checksum())
		}
	}
	for v, r := range recorded {
		if !known[v] {
			return nil, fmt.Errorf("clickhouse migrate: database %s has migration %d (%s), which this binary does not know; run a newer shopstream",
				s.db, v, r.name)
		}
	}
	for _, m := range chschema.Migrations() {
		if _, ok := recorded[m.Version]; ok {
			continue
		}
		if err := s.apply(ctx, m); err != nil {
			return applied, err
		}
		applied = append(applied, m.Version)
		s.log.InfoContext(ctx, "clickhouse migration applied",
			slog.String("database", s.db), slog.Int("version", m.Version), slog.String("name", m.Name))
	}
	return applied, nil
}

// recordedMigrations reads schema_migrations. If two migrators raced and
// recorded a version twice, the earliest row stands.
func (s *Store) recordedMigrations(ctx context.Context) (map[int]appliedMigration, error) {
	rows, err := s.conn.Query(ctx, "SELECT version, name, checksum FROM schema_migrations ORDER BY version, applied_at")
	if err != nil {
		return nil, Classify("read schema_migrations", err)
	}
	defer rows.Close()
	recorded := map[int]appliedMigration{}
	for rows.Next() {
		var (
			v              uint32
			name, checksum string
		)
		if err := rows.Scan(&v, &name, &checksum); err != nil {
			return nil, Classify("scan schema_migrations", err)
		}
		if _, seen := recorded[int(v)]; !seen {
			recorded[int(v)] = appliedMigration{name: name, checksum: checksum}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, Classify("read schema_migrations", err)
	}
	return recorded, nil
}

// apply runs m's statements in order, then records m.
func (s *Store) apply(ctx context.Context, m chschema.Migration) error {
	for i, stmt := range m.Statements() {
		stmt, err := s.withoutExistingColumns(ctx, stmt)
		if err != nil {
			return fmt.Errorf("migration %d (%s) statement %d: %w", m.Version, m.Name, i+1, err)
		}
		if stmt == "" {
			continue // every column it adds is there: a re-run after a crash
		}
		if err := s.conn.Exec(ctx, stmt); err != nil {
			return Classify(fmt.Sprintf("migration %d (%s) statement %d", m.Version, m.Name, i+1), err)
		}
	}
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, checksum, applied_at)")
	if err != nil {
		return Classify("record migration", err)
	}
	defer func() { _ = batch.Abort() }()
	if err := batch.Append(uint32(m.Version), m.Name, m.Checksum(), s.now().UTC()); err != nil {
		return Classify("record migration", err)
	}
	return Classify(fmt.Sprintf("record migration %d", m.Version), batch.Send())
}
