package clickhouse

import (
	"context"
	"fmt"
	"reflect"

	chschema "github.com/shopstream/shopstream/schemas/clickhouse"
)

// Result is the outcome of an analyst query, in the column order of its
// SELECT (which a map would lose; a CLI prints it as a table).
type Result struct {
	Columns []string
	Types   []string // ClickHouse type names, e.g. Nullable(Float64)
	Rows    [][]any  // NULL is nil; other values are their Go scan types
}

// Maps returns the rows keyed by column name, for tests and JSON output.
func (r *Result) Maps() []map[string]any {
	out := make([]map[string]any, len(r.Rows))
	for i, row := range r.Rows {
		m := make(map[string]any, len(row))
		for j, v := range row {
			m[r.Columns[j]] = v
		}
		out[i] = m
	}
	return out
}

// RunQuery runs the checked-in analyst query name (see
// chschema.QueryNames) over rng; a zero Range keeps the query's default of
// the last seven days. It is what the tests assert on and what a future
// `shopstream analytics` command prints, so both run the exact SQL analysts
// paste into clickhouse-client.
func (s *Store) RunQuery(ctx context.Context, name string, rng chschema.Range) (*Result, error) {
	sql, err := chschema.Query(name)
	if err != nil {
		return nil, err
	}
	if sql, err = chschema.BindRange(sql, rng); err != nil {
		return nil, fmt.Errorf("analyst query %s: %w", name, err)
	}
	rows, err := s.conn.Query(ctx, sql)
	if err != nil {
		return nil, Classify("query "+name, err)
	}
	defer rows.Close()
	res := &Result{Columns: rows.Columns()}
	types := rows.ColumnTypes()
	for _, ct := range types {
		res.Types = append(res.Types, ct.DatabaseTypeName())
	}
	for rows.Next() {
		dest := make([]any, len(types))
		for i, ct := range types {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, Classify("scan "+name, err)
		}
		row := make([]any, len(dest))
		for i, d := range dest {
			row[i] = deref(reflect.ValueOf(d).Elem())
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, Classify("query "+name, err)
	}
	return res, nil
}

// deref turns the scanned value into a plain one: Nullable columns scan
// into pointers, which become nil or the pointed-to value.
func deref(v reflect.Value) any {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	return v.Interface()
}
