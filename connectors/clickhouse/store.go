// Package clickhouse is shopstream's ClickHouse connector: it opens a
// native-protocol connection, applies the embedded migrations, writes
// batches of pipeline.Outcome into webhook_events and runs the analyst
// queries. The DDL and SQL themselves live in schemas/clickhouse (package
// chschema); this package only does the I/O. It must not import Kafka,
// HTTP-server or configuration packages: the analytics sink wires it.
package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Store is a pool of native-protocol connections to one ClickHouse
// database. It is safe for concurrent use.
type Store struct {
	conn driver.Conn
	db   string
	now  func() time.Time
	log  *slog.Logger
}

// Option adjusts Open.
type Option func(*Store)

// WithDatabase overrides the DSN's database, so tests (and tools) can point
// one DSN at a database of their own.
func WithDatabase(name string) Option { return func(s *Store) { s.db = name } }

// WithClock sets the clock that stamps ingested_at (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithLogger sets the logger for migrations (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// Open connects to the ClickHouse named by dsn, e.g.
// clickhouse://user:pass@127.0.0.1:9000/default?dial_timeout=5s, and pings
// it. Only the native protocol is accepted: clickhouse-go's HTTP mode does
// not work with ClickHouse 18.16, and a DSN that behaves differently per
// server version is a trap. A failed ping is returned classified (see
// Classify), so a caller that starts before ClickHouse can retry.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o, err := ch.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("clickhouse dsn: %w", err)
	}
	if o.Protocol != ch.Native {
		return nil, errors.New("clickhouse dsn: only the native protocol (clickhouse://host:9000) is supported, not http")
	}
	s := &Store{db: o.Auth.Database, now: time.Now, log: slog.Default()}
	for _, opt := range opts {
		opt(s)
	}
	if s.db == "" {
		s.db = "default"
	}
	o.Auth.Database = s.db
	if s.conn, err = ch.Open(o); err != nil {
		return nil, fmt.Errorf("clickhouse open: %w", err)
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.conn.Close()
		return nil, err
	}
	return s, nil
}

// Ping checks that the server answers; the error is classified.
func (s *Store) Ping(ctx context.Context) error {
	return Classify("ping", s.conn.Ping(ctx))
}

// Database is the database every statement runs in.
func (s *Store) Database() string { return s.db }

// Conn exposes the underlying clickhouse-go connection for statements this
// package does not wrap (tests, ad-hoc tools).
func (s *Store) Conn() driver.Conn { return s.conn }

// Close closes every pooled connection.
func (s *Store) Close() error { return s.conn.Close() }
