package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka/consume"
	"github.com/shopstream/shopstream/connectors/kafka/replay"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// DefaultIndexEntries caps the dead-letter index at about
// approxEntryBytes × 1,000,000 ≈ 300 MB.
const DefaultIndexEntries = 1_000_000

// approxEntryBytes bounds what an entry costs on average with the
// ingress's 32-character event ids and short error texts: the 152-byte
// struct and its unshared strings (IndexStats.Bytes measures it; with
// BenchmarkDeadLettersPage's 100,000 dead letters it is 225 bytes). Error
// texts are capped at pipeline.MaxErrorText when written, so no entry
// exceeds 152 + 2 × MaxErrorText + its ids. Transient costs of a refresh
// (the fetched batches) come on top.
const approxEntryBytes = 300

// refreshTimeout bounds one refresh; it runs detached from the request
// that started it, since other page loads wait on it too.
const refreshTimeout = 2 * time.Minute

// ErrIndexFull is returned when the DLQ holds more dead letters than the
// index may keep: the page refuses to show a count it cannot vouch for.
var ErrIndexFull = errors.New("dead-letter index full")

// indexEntry is what the list and its filters need of one dead letter:
// no body. Shown is the error as the list shows it (masked with the body's
// personal values, which the index does not keep); it shares Error's bytes
// when masking changed nothing.
type indexEntry struct {
	Offset                       int64
	FailedAt                     time.Time
	Partition                    int32
	Attempts                     int32
	Kind                         pipeline.Kind
	EventID, EventType, EntityID string
	OriginalTopic                string
	Error, Shown                 string
}

// entryBytes is what one entry costs: its struct and the bytes of the
// strings it does not share with other entries (types, kinds and topics
// are interned; Shown is counted only when it differs from Error).
func entryBytes(e *indexEntry) int64 {
	n := int64(unsafe.Sizeof(*e)) + int64(len(e.EventID)+len(e.EntityID)+len(e.Error))
	if e.Shown != e.Error {
		n += int64(len(e.Shown))
	}
	return n
}

// partIndex is one partition's entries, in offset order, and the offsets
// they were read from: [Start, End).
type partIndex struct {
	Start, End int64
	Entries    []indexEntry
}

// indexView is the index at one refresh. A view is never changed once
// published: a refresh builds the next one (appends go past the lengths
// the old view reads, trims copy), so readers hold no lock.
type indexView struct {
	topicID kadm.TopicID
	parts   map[int32]partIndex
	entries int
	bytes   int64
}

func (v *indexView) total() int64 {
	var n int64
	for _, p := range v.parts {
		n += p.End - p.Start
	}
	return n
}

// IndexStats describes the index after its last refresh.
type IndexStats struct {
	Entries    int
	Bytes      int64 // entry structs and their unshared strings
	Rebuilds   int   // full reads (the first, and after the topic was recreated)
	LastRead   int   // records the last refresh read
	Refreshes  int   // refreshes run (page loads that came during one shared it)
	Joined     int   // page loads waiting on the refresh under way
	MaxEntries int
}

// DeadLetterIndex keeps, per dead letter of evershop.dlq, what the list
// and its filters need, and on each use reads only the records appended
// since its last end offset. Entries below a partition's log start
// (retention, DeleteRecords) are dropped; a topic that was recreated (a new
// topic id, or offsets going backwards) is read again from the start.
// Concurrent uses share one refresh.
type DeadLetterIndex struct {
	newClient  func() (*kgo.Client, error)
	log        *slog.Logger
	maxEntries int

	view atomic.Pointer[indexView]

	mu        sync.Mutex
	inflight  *refreshCall
	rebuilds  int
	refreshes int
	lastRead  int
	interned  map[string]string
	patterns  map[string]string // error text → masked by the patterns; the refresh's own (one at a time)
}

type refreshCall struct {
	joined int // callers waiting on it
	done   chan struct{}
	view   *indexView
	err    error
}

// NewDeadLetterIndex makes an empty index reading with clients from
// newClient (each must consume nothing else); maxEntries <= 0 means
// DefaultIndexEntries.
func NewDeadLetterIndex(newClient func() (*kgo.Client, error), maxEntries int, log *slog.Logger) *DeadLetterIndex {
	if maxEntries <= 0 {
		maxEntries = DefaultIndexEntries
	}
	return &DeadLetterIndex{newClient: newClient, log: log, maxEntries: maxEntries, interned: map[string]string{}, patterns: map[string]string{}}
}

// Stats reports the index after its last refresh.
func (x *DeadLetterIndex) Stats() IndexStats {
	x.mu.Lock()
	defer x.mu.Unlock()
	s := IndexStats{Rebuilds: x.rebuilds, Refreshes: x.refreshes, LastRead: x.lastRead, MaxEntries: x.maxEntries}
	if x.inflight != nil {
		s.Joined = x.inflight.joined
	}
	if v := x.view.Load(); v != nil {
		s.Entries, s.Bytes = v.entries, v.bytes
	}
	return s
}

// Warm builds the index now (the console calls it at start), so the first
// page load reads only what came since instead of the whole DLQ.
func (x *DeadLetterIndex) Warm(ctx context.Context) error {
	_, err := x.refresh(ctx)
	return err
}

// refresh brings the index up to the DLQ's end now, or joins the refresh
// under way.
func (x *DeadLetterIndex) refresh(ctx context.Context) (*indexView, error) {
	x.mu.Lock()
	c := x.inflight
	if c == nil {
		c = &refreshCall{done: make(chan struct{})}
		x.inflight = c
		x.refreshes++
		go func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
			defer cancel()
			v, err := x.read(rctx)
			x.mu.Lock()
			c.view, c.err = v, err
			if err == nil {
				x.view.Store(v)
			}
			x.inflight = nil
			x.mu.Unlock()
			close(c.done)
		}()
	}
	c.joined++
	x.mu.Unlock()
	defer func() {
		x.mu.Lock()
		c.joined--
		x.mu.Unlock()
	}()
	select {
	case <-c.done:
		return c.view, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// read builds the next view from the current one. It runs alone (refresh).
func (x *DeadLetterIndex) read(ctx context.Context) (*indexView, error) {
	cl, err := x.newClient()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	md, err := adm.Metadata(ctx, schemas.TopicDLQ)
	if err != nil {
		return nil, fmt.Errorf("dead-letter index: metadata of %s: %w", schemas.TopicDLQ, err)
	}
	td, ok := md.Topics[schemas.TopicDLQ]
	if !ok || td.Err != nil {
		return nil, fmt.Errorf("dead-letter index: metadata of %s: %w", schemas.TopicDLQ, td.Err)
	}
	offs, err := listOffsets(ctx, adm)
	if err != nil {
		return nil, err
	}
	old := x.view.Load()
	if old != nil && !sameTopic(old, td.ID, offs) {
		x.log.Info("console: evershop.dlq was recreated; reading it again", "topic_id", td.ID.String())
		old = nil
	}
	if old == nil {
		x.mu.Lock()
		x.rebuilds++
		clear(x.interned)
		x.mu.Unlock()
	}
	next := &indexView{topicID: td.ID, parts: map[int32]partIndex{}}
	tail := consume.Snapshot{Topic: schemas.TopicDLQ, Spans: map[int32]consume.Span{}}
	for p, sp := range offs {
		var pi partIndex
		if old != nil {
			pi = old.parts[p]
		}
		pi = trimBelow(pi, sp.Start)
		if pi.End < sp.End {
			tail.Spans[p] = consume.Span{Start: pi.End, End: sp.End}
		}
		next.parts[p] = pi
		next.entries += len(pi.Entries)
	}
	read := 0
	err = tail.Read(ctx, cl, func(r *kgo.Record) error {
		if next.entries >= x.maxEntries {
			return fmt.Errorf("%w: evershop.dlq spans %d records, over the console's cap of %d dead letters (%d bytes each at most on average); "+
				"use `shopstream replay --dry-run`, or shorten SHOPSTREAM_DLQ_RETENTION", ErrIndexFull, total(offs), x.maxEntries, approxEntryBytes)
		}
		pi := next.parts[r.Partition]
		pi.Entries = append(pi.Entries, x.entry(r))
		next.parts[r.Partition] = pi
		next.entries++
		read++
		return nil
	})
	if err != nil {
		return nil, err
	}
	for p, pi := range next.parts { // read up to the end: a gap at the tail (compaction) reads nothing
		pi.End = offs[p].End
		next.parts[p] = pi
		for i := range pi.Entries {
			next.bytes += entryBytes(&pi.Entries[i])
		}
	}
	x.mu.Lock()
	x.lastRead = read
	x.mu.Unlock()
	return next, nil
}

// sameTopic reports whether offs continue the topic v indexed: the same
// topic id (when the broker reports one), the same partitions, and no
// partition's end behind what was read.
func sameTopic(v *indexView, id kadm.TopicID, offs map[int32]consume.Span) bool {
	if id != v.topicID || len(offs) != len(v.parts) {
		return false
	}
	for p, pi := range v.parts {
		sp, ok := offs[p]
		if !ok || sp.End < pi.End {
			return false
		}
	}
	return true
}

// listOffsets lists every partition's log start and end offsets.
func listOffsets(ctx context.Context, adm *kadm.Client) (map[int32]consume.Span, error) {
	ends, err := adm.ListEndOffsets(ctx, schemas.TopicDLQ)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("dead letters: end offsets of %s: %w", schemas.TopicDLQ, err)
	}
	starts, err := adm.ListStartOffsets(ctx, schemas.TopicDLQ)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("dead letters: start offsets of %s: %w", schemas.TopicDLQ, err)
	}
	out := map[int32]consume.Span{}
	ends.Each(func(o kadm.ListedOffset) {
		sp := consume.Span{End: o.Offset}
		if st, ok := starts.Lookup(o.Topic, o.Partition); ok {
			sp.Start = min(st.Offset, o.Offset)
		}
		out[o.Partition] = sp
	})
	return out, nil
}

func total(offs map[int32]consume.Span) int64 {
	var n int64
	for _, sp := range offs {
		n += sp.End - sp.Start
	}
	return n
}

// trimBelow drops the entries below start (retention moved the log start).
// It copies what is left, so the old view keeps its entries and the
// dropped ones are freed with it.
func trimBelow(pi partIndex, start int64) partIndex {
	if pi.Start >= start {
		return pi
	}
	i := sort.Search(len(pi.Entries), func(i int) bool { return pi.Entries[i].Offset >= start })
	pi.Entries = append([]indexEntry(nil), pi.Entries[i:]...)
	pi.Start = start
	pi.End = max(pi.End, start) // everything indexed is gone: read on from the start
	return pi
}

// entry reads what the index keeps of a DLQ record.
func (x *DeadLetterIndex) entry(r *kgo.Record) indexEntry {
	d := replay.FromRecord(r)
	product := d.Event.Kind == pipeline.KindProduct
	shown := x.shownError(d.Error, d.Event.Body, product)
	if shown == d.Error {
		shown = d.Error // share the bytes: maskError builds a new string
	}
	return indexEntry{
		Offset: d.Offset, FailedAt: d.FailedAt, Partition: d.Partition, Attempts: int32(min(d.Attempts, 1<<31-1)),
		Kind:    pipeline.Kind(x.intern(string(d.Event.Kind))),
		EventID: d.Event.ID, EventType: x.intern(d.Event.Type), EntityID: d.Event.EntityID,
		OriginalTopic: x.intern(d.OriginalTopic), Error: d.Error, Shown: shown,
	}
}

// intern shares the few distinct types, kinds and topics between entries.
// A DLQ fed odd values is bounded: past 1,024 distinct values it stops
// sharing (entryBytes then undercounts by those strings only).
func (x *DeadLetterIndex) intern(s string) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	if v, ok := x.interned[s]; ok {
		return v
	}
	if len(x.interned) < 1024 {
		x.interned[s] = s
	}
	return s
}

func (e *indexEntry) facts() pipeline.DeadLetterFacts {
	return pipeline.DeadLetterFacts{EventType: e.EventType, EventID: e.EventID, Error: e.Error, Attempts: int(e.Attempts), FailedAt: e.FailedAt}
}

// letter is the entry as a dead letter without its body; its Error is the
// shown (masked) text.
func (e *indexEntry) letter() replay.DeadLetter {
	return replay.DeadLetter{
		Partition: e.Partition, Offset: e.Offset, FailedAt: e.FailedAt, Attempts: int(e.Attempts),
		Event:         pipeline.Event{ID: e.EventID, Type: e.EventType, EntityID: e.EntityID, Kind: e.Kind},
		OriginalTopic: e.OriginalTopic, Error: e.Shown,
	}
}
