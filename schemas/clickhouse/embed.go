// Package chschema owns shopstream's ClickHouse schema as other systems see
// it: the versioned DDL under migrations/ and the analysts' SQL under
// queries/, embedded so that the binary, the tests and an analyst pasting
// into clickhouse-client all run the same text. It is data plus the few
// pure functions needed to read it; it imports no ClickHouse client.
//
// Every statement must run on ClickHouse 18.16 (Debian's package) and on
// current releases, which rules out LowCardinality, DateTime64, TTL, CODEC
// and {name:Type} query parameters.
package chschema

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
)

//go:embed migrations/*.sql queries/*.sql schema_migrations.sql
var files embed.FS

// MigrationsTableDDL creates schema_migrations, the record of applied
// migrations. The migrator runs it before reading that record, which is why
// it is not a numbered migration itself.
func MigrationsTableDDL() string {
	b, err := files.ReadFile("schema_migrations.sql")
	if err != nil {
		panic(err) // embedded at build time; cannot be missing
	}
	return string(b)
}

// Migration is one versioned DDL file, migrations/NNNN_name.sql.
type Migration struct {
	Version int
	Name    string // the file name without the version prefix and .sql
	SQL     string
}

// Checksum is the hex SHA-256 of the migration's text. The migrator records
// it and refuses to continue when an applied migration's text changed: an
// edited migration would never run again, so the schema would silently
// differ between databases migrated before and after the edit.
func (m Migration) Checksum() string {
	sum := sha256.Sum256([]byte(m.SQL))
	return hex.EncodeToString(sum[:])
}

// Statements splits the migration into single statements, because the
// native protocol runs one statement per query.
func (m Migration) Statements() []string { return SplitStatements(m.SQL) }

var loadMigrations = sync.OnceValues(func() ([]Migration, error) {
	entries, err := fs.ReadDir(files, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	seen := map[int]string{}
	for _, e := range entries {
		v, name, err := parseMigrationName(e.Name())
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := files.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	return ms, nil
})

// parseMigrationName splits "0001_webhook_events.sql" into 1 and
// "webhook_events".
func parseMigrationName(file string) (int, string, error) {
	base, ok := strings.CutSuffix(file, ".sql")
	num, name, ok2 := strings.Cut(base, "_")
	v, err := strconv.Atoi(num)
	if !ok || !ok2 || err != nil || v <= 0 || name == "" {
		return 0, "", fmt.Errorf("migration file %q: want NNNN_name.sql with NNNN > 0", file)
	}
	return v, name, nil
}

// Migrations returns the embedded migrations in ascending version order.
// The files are fixed at build time and checked by this package's tests, so
// a malformed name is a programming error and panics.
func Migrations() []Migration {
	ms, err := loadMigrations()
	if err != nil {
		panic("chschema: " + err.Error())
	}
	return slices.Clone(ms)
}

// QueryNames lists the analyst queries, sorted: the file names under
// queries/ without .sql.
func QueryNames() []string {
	entries, err := fs.ReadDir(files, "queries")
	if err != nil {
		panic(err) // embedded at build time
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".sql"); ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Query returns the analyst query called name (see QueryNames) as checked
// in, with its default range of the last seven days. Use BindRange to run it
// over another range.
func Query(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "/\\.") {
		return "", fmt.Errorf("unknown analyst query %q (known: %s)", name, strings.Join(QueryNames(), ", "))
	}
	b, err := files.ReadFile("queries/" + name + ".sql")
	if err != nil {
		return "", fmt.Errorf("unknown analyst query %q (known: %s)", name, strings.Join(QueryNames(), ", "))
	}
	return string(b), nil
}
