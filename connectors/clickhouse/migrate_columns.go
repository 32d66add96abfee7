package clickhouse

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	chschema "github.com/shopstream/shopstream/schemas/clickhouse"
)

// ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS, so a migration that
// adds columns is not re-runnable by its text: a crash between its ALTER
// and its schema_migrations row would make every later Migrate fail on
// "column already exists". apply therefore drops the ADD COLUMN clauses
// whose column already exists (and the whole ALTER when none is left).

var (
	alterTableRE = regexp.MustCompile("(?is)^ALTER\\s+TABLE\\s+(`[^`]+`|[A-Za-z0-9_.]+)\\s+(.*)$")
	addColumnRE  = regexp.MustCompile("(?is)^ADD\\s+COLUMN\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?(`[^`]+`|[A-Za-z_][A-Za-z0-9_]*)(?:\\s|$)")
)

// addColumns parses "ALTER TABLE t ADD COLUMN a ..., ADD COLUMN b ..."
// (comments allowed) into t, its clauses and their column names; ok is
// false for any other statement, including an ALTER that does anything
// besides adding columns.
func addColumns(stmt string) (table string, clauses, columns []string, ok bool) {
	m := alterTableRE.FindStringSubmatch(strings.TrimSpace(stripComments(stmt)))
	if m == nil {
		return "", nil, nil, false
	}
	for _, c := range splitTopLevel(m[2]) {
		cm := addColumnRE.FindStringSubmatch(c)
		if cm == nil {
			return "", nil, nil, false
		}
		clauses, columns = append(clauses, c), append(columns, strings.Trim(cm[1], "`"))
	}
	return m[1], clauses, columns, len(clauses) > 0
}

// stripComments removes -- and /* */ comments outside quotes.
func stripComments(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '-' && strings.HasPrefix(s[i:], "--"):
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				return b.String()
			}
			i += j - 1
		case c == '/' && strings.HasPrefix(s[i:], "/*"):
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				return b.String()
			}
			i += j + 3
			b.WriteByte(' ')
		case c == '\'' || c == '"' || c == '`':
			j := chschema.SkipQuoted(s, i)
			b.WriteString(s[i:j])
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// splitTopLevel splits s on the commas outside parentheses and quotes.
func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		case '\'', '"', '`':
			i = chschema.SkipQuoted(s, i) - 1
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	if rest := strings.TrimSpace(s[start:]); rest != "" {
		out = append(out, rest)
	}
	return out
}

// withoutExistingColumns returns stmt without the ADD COLUMN clauses whose
// column the table already has; "" when nothing is left to run.
func (s *Store) withoutExistingColumns(ctx context.Context, stmt string) (string, error) {
	table, clauses, columns, ok := addColumns(stmt)
	if !ok {
		return stmt, nil
	}
	db, name := "", strings.Trim(table, "`")
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		db, name = name[:i], name[i+1:]
	}
	q := "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = ?"
	args := []any{name}
	if db != "" {
		q, args = "SELECT name FROM system.columns WHERE database = ? AND table = ?", []any{db, name}
	}
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return "", Classify("read the columns of "+table, err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return "", Classify("read the columns of "+table, err)
		}
		have[c] = true
	}
	if err := rows.Err(); err != nil {
		return "", Classify("read the columns of "+table, err)
	}
	var keep []string
	for i, c := range clauses {
		if have[columns[i]] {
			s.log.InfoContext(ctx, "clickhouse migration: column already there, not added again",
				slog.String("table", table), slog.String("column", columns[i]))
			continue
		}
		keep = append(keep, c)
	}
	if len(keep) == 0 {
		return "", nil
	}
	return fmt.Sprintf("ALTER TABLE %s %s", table, strings.Join(keep, ", ")), nil
}
