package clickhouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// defaultTestDSN is the server deploy/local/clickhouse.sh starts.
const defaultTestDSN = "clickhouse://127.0.0.1:9000/default"

// testDSN returns the DSN of the real ClickHouse the integration tests use,
// or skips. SHOPSTREAM_TEST_CLICKHOUSE holds either a DSN or any other
// non-empty value (e.g. 1) for defaultTestDSN.
func testDSN(tb testing.TB) string {
	v := os.Getenv("SHOPSTREAM_TEST_CLICKHOUSE")
	switch {
	case v == "":
		tb.Skip("SHOPSTREAM_TEST_CLICKHOUSE is unset: start ClickHouse (deploy/local/clickhouse.sh start) and set it to 1 or to a DSN such as " + defaultTestDSN)
	case strings.Contains(v, "://"):
		return v
	}
	return defaultTestDSN
}

// newTestStore opens a Store on a fresh database test_<random>, dropped when
// the test ends, so tests never see each other's rows.
func newTestStore(tb testing.TB, opts ...Option) *Store {
	tb.Helper()
	dsn := testDSN(tb)
	ctx := tb.Context()
	admin, err := Open(ctx, dsn)
	if err != nil {
		tb.Fatalf("open %s: %v", dsn, err)
	}
	db := "test_" + randomHex(8)
	if err := admin.Conn().Exec(ctx, "CREATE DATABASE "+db); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	tb.Cleanup(func() {
		// tb.Context() is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin.Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			tb.Errorf("drop database %s: %v", db, err)
		}
		_ = admin.Close()
	})
	quiet := WithLogger(slog.New(slog.DiscardHandler))
	s, err := Open(ctx, dsn, append([]Option{WithDatabase(db), quiet}, opts...)...)
	if err != nil {
		tb.Fatalf("open %s in %s: %v", dsn, db, err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// migratedStore is newTestStore with the migrations applied.
func migratedStore(tb testing.TB, opts ...Option) *Store {
	tb.Helper()
	s := newTestStore(tb, opts...)
	if _, err := s.Migrate(tb.Context()); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// count runs a SELECT count() style query.
func count(tb testing.TB, s *Store, query string) uint64 {
	tb.Helper()
	var n uint64
	if err := s.Conn().QueryRow(tb.Context(), query).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}
