package console

import (
	"context"
	"io"
	"time"

	"github.com/shopstream/shopstream/connectors/clickhouse"
	"github.com/shopstream/shopstream/connectors/kafka/replay"
	"github.com/shopstream/shopstream/pipeline"
)

// EventStore is the analytics store (connectors/clickhouse.Store).
type EventStore interface {
	FindEvents(ctx context.Context, q clickhouse.EventQuery) ([]clickhouse.EventSummary, error)
	Timeline(ctx context.Context, eventID string) ([]clickhouse.TimelineRow, error)
	Delivered(ctx context.Context, ids []string) (map[string]bool, error)
	LoadOverview(ctx context.Context, now time.Time) (clickhouse.Overview, error)
}

// SentMessages reads back the customer message an event's delivered
// outcome recorded (connectors/clickhouse.Store, webhook_events.message).
type SentMessages interface {
	SentMessage(ctx context.Context, eventType, eventID string) (clickhouse.SentMessage, bool, error)
}

// DeadLetters reads the DLQ and puts events back into the flow, through
// connectors/kafka/replay (KafkaDeadLetters), the code path of `shopstream
// replay`.
type DeadLetters interface {
	// List returns the newest limit dead letters passing f and the count
	// of all of them; it holds no more than limit while reading.
	List(ctx context.Context, f pipeline.ReplayFilter, limit int) (replay.Listing, error)
	// Each calls fn with every dead letter passing f, holding none of them
	// (fn copies what it keeps); an error from fn stops it.
	Each(ctx context.Context, f pipeline.ReplayFilter, fn func(replay.DeadLetter) error) error
	// Letter reads one dead letter by its position in the DLQ.
	Letter(ctx context.Context, partition int32, offset int64) (replay.DeadLetter, error)
	// Replay replays every dead letter passing f (stateless: the command
	// line's group keeps its position); skip passes over delivered events.
	Replay(ctx context.Context, f pipeline.ReplayFilter, dryRun bool, skip func(pipeline.Event) bool) (replay.Progress, error)
	// Record reads the accepted record an analytics row points at.
	Record(ctx context.Context, topic string, partition int32, offset int64) (Source, error)
	// Resend puts an accepted event back on its topic (force re-send).
	Resend(ctx context.Context, src Source) error
}

// Source is an accepted webhook record as read back from its topic.
type Source struct {
	Topic           string
	Partition       int32
	Offset          int64
	Event           pipeline.Event
	SignatureScheme string
}

// LagReader measures consumer lag per group and topic
// (connectors/kafka.LagMonitor).
type LagReader interface {
	Measure(ctx context.Context) (map[string]map[string]int64, error)
}

// CatalogDoc describes the catalog document last published.
type CatalogDoc struct {
	Name, Hash  string
	Products    int
	PublishedAt time.Time
	Where       string // where it lives (a file path, a knowledge base)

	// Knowledge-base targets only (KnowledgeBaseCatalog).
	KnowledgeBase bool
	Regenerate    bool   // the console can ask the catalog owner to regenerate
	Recorded      bool   // shopstream's record of the publish was read
	Uploaded      bool   // false: the sync found this content already there
	DocumentID    string // the knowledge base's id, as the publish returned it
	Bytes         int
	RecordError   string      // reading shopstream's record failed
	Live          *RemoteDoc  // the live catalog document, as the knowledge base reports it
	Others        []RemoteDoc // other catalog documents it holds (processing, leftovers)
	RemoteError   string      // asking the knowledge base failed
	Mismatch      bool        // the live document is not the one shopstream recorded
	CSVNote       string      // why the CSV cannot be downloaded ("": it can)
}

// RemoteDoc is a document as the knowledge base itself reports it.
type RemoteDoc struct {
	ID, Name, Status       string
	Size                   int64
	CreateTime, UpdateTime time.Time
}

// Catalog is the catalog target as the console sees it.
type Catalog interface {
	Current(ctx context.Context) (CatalogDoc, bool, error) // false: nothing published yet
	// OpenCSV opens the CSV that was published.
	OpenCSV(ctx context.Context) (io.ReadCloser, error)
	// Regenerate regenerates the catalog now (done) or asks the catalog
	// owner to (queued: it runs within the owner's debounce window); user
	// is who asked.
	Regenerate(ctx context.Context, user string) (queued bool, err error)
}
