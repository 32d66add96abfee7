package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/schemas"
)

// lagZero reports whether every consumer group of the system has consumed
// and committed everything (a held retry record counts as lag).
func lagZero(ctx context.Context, adm *kadm.Client) (bool, int64, error) {
	lags, err := adm.Lag(ctx, schemas.GroupProcessor, schemas.GroupCatalog, schemas.GroupSink)
	if err != nil {
		return false, -1, fmt.Errorf("lag: %w", err)
	}
	var total int64
	for _, l := range lags {
		if err := l.Error(); err != nil {
			return false, -1, fmt.Errorf("lag %s: %w", l.Group, err)
		}
		total += l.Lag.Total()
	}
	return total == 0, total, nil
}

// endOffsets snapshots a topic's end offsets.
func endOffsets(ctx context.Context, adm *kadm.Client, topic string) (map[int32]int64, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("end offsets %s: %w", topic, err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// dlqRecords counts records appended to evershop.dlq since from whose event
// id starts with prefix.
func dlqRecords(ctx context.Context, brokers []string, adm *kadm.Client, from map[int32]int64, prefix string) (int, error) {
	to, err := endOffsets(ctx, adm, schemas.TopicDLQ)
	if err != nil {
		return -1, err
	}
	parts := map[int32]kgo.Offset{}
	left := 0
	for p, end := range to {
		start := from[p]
		if end > start {
			parts[p] = kgo.NewOffset().At(start)
			left += int(end - start)
		}
	}
	if left == 0 {
		return 0, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{schemas.TopicDLQ: parts}))
	if err != nil {
		return -1, fmt.Errorf("dlq reader: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n := 0
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return n, fmt.Errorf("dlq reader: %w", ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= to[r.Partition] {
				return
			}
			left--
			for _, h := range r.Headers {
				if h.Key == schemas.HeaderEventID && strings.HasPrefix(string(h.Value), prefix) {
					n++
				}
			}
		})
	}
	return n, nil
}

// clickhouse queries the HTTP interface (no driver needed).
type clickhouse struct{ url string }

func (c clickhouse) query(ctx context.Context, q string) ([][]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/?"+url.Values{"database": {"default"}}.Encode(), strings.NewReader(q+" FORMAT TabSeparated"))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
		return nil, fmt.Errorf("clickhouse: HTTP %d: %s", resp.StatusCode, b)
	}
	var rows [][]string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		rows = append(rows, strings.Split(sc.Text(), "\t"))
	}
	return rows, sc.Err()
}

// outcomes are the webhook_events rows (FINAL) of one scenario, per event id
// and status.
type outcomes map[string]map[string]int

func (c clickhouse) outcomes(ctx context.Context, prefix string, events []*event) (outcomes, error) {
	var extra []string
	for _, e := range events {
		for _, a := range e.aliases {
			extra = append(extra, "'"+a+"'")
		}
	}
	where := fmt.Sprintf("startsWith(event_id, '%s')", prefix)
	if len(extra) > 0 {
		where += " OR event_id IN (" + strings.Join(extra, ",") + ")"
	}
	rows, err := c.query(ctx, "SELECT event_id, status, count() FROM webhook_events FINAL WHERE "+where+" GROUP BY event_id, status")
	if err != nil {
		return nil, err
	}
	out := outcomes{}
	for _, r := range rows {
		if len(r) != 3 {
			continue
		}
		n, _ := strconv.Atoi(r[2])
		if out[r[0]] == nil {
			out[r[0]] = map[string]int{}
		}
		out[r[0]][r[1]] = n
	}
	return out, nil
}

// effectStatuses are the terminal outcomes that decide what happened to an
// event. "duplicate" is left out: it is the outcome of a redelivered copy
// (the store sent the webhook twice, or a record was re-read after a
// crash), and one per copy is correct.
var effectStatuses = []string{"completed", "superseded", "skipped", "dead"}

// check says whether an accepted event's outcomes are exactly once: at least
// one "received" row (two copies of one webhook in Kafka are two receipts)
// and exactly one effect row over every attempt, topic and offset. A
// missing effect is a lost analytics row; two are one event counted twice.
//
// The counts are summed over the event's aliases: a captured request
// re-posted with a fresh unsigned id is the same event.
func (o outcomes) check(e *event) (missing, twice bool) {
	st := o.of(e)
	effects := 0
	for _, s := range effectStatuses {
		effects += st[s]
	}
	return st["received"] == 0 || effects == 0, effects > 1
}

func (o outcomes) terminal(e *event) bool {
	st := o.of(e)
	for _, s := range append(effectStatuses, "duplicate") {
		if st[s] > 0 {
			return true
		}
	}
	return false
}

func (o outcomes) rows() int {
	n := 0
	for _, st := range o {
		for _, c := range st {
			n += c
		}
	}
	return n
}

func (o outcomes) of(e *event) map[string]int {
	if len(e.aliases) == 0 {
		return o[e.id]
	}
	sum := map[string]int{}
	for _, id := range append([]string{e.id}, e.aliases...) {
		for st, n := range o[id] {
			sum[st] += n
		}
	}
	return sum
}
