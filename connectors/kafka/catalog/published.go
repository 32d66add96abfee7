package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/consume"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// MaxKeptCSV bounds the CSV kept on schemas.TopicCatalogPublished. A larger
// catalog is recorded without its CSV (Published.CSVOmitted says so): the
// knowledge base still gets it, only the console cannot offer it for
// download.
const MaxKeptCSV = 8 << 20

// publishedKey is the one key of the topic: compaction keeps the last.
const publishedKey = "catalog"

// Published describes the catalog last handed to the knowledge base, as the
// header of its record on schemas.TopicCatalogPublished (the value is the
// CSV itself).
type Published struct {
	Name       string    `json:"name"`
	Hash       string    `json:"hash"` // hex SHA-256 of the CSV
	Rows       int       `json:"rows"`
	Bytes      int       `json:"bytes"`
	DocumentID string    `json:"document_id"` // the knowledge base's id of it
	Uploaded   bool      `json:"uploaded"`    // false: the target already held it
	At         time.Time `json:"at"`          // when the publish finished
	CSVOmitted string    `json:"csv_omitted,omitempty"`
}

// PublishedLog writes and reads schemas.TopicCatalogPublished.
type PublishedLog struct {
	cl       *kgo.Client
	topic    string
	now      func() time.Time
	log      *slog.Logger
	readWait time.Duration // LatestReadWait; tests shorten it
}

// PublishedClientOpts are the producer options of the client a
// PublishedLog writes with: a batch big enough for MaxKeptCSV, compressed
// (a CSV shrinks several times), acknowledged by every in-sync replica.
func PublishedClientOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(kafka.PublishedMaxMessageBytes),
		kgo.ProducerBatchCompression(kgo.ZstdCompression(), kgo.NoCompression()),
		kgo.UnknownTopicRetries(3),
	}
}

// NewPublishedLog uses cl (built with PublishedClientOpts to write; any
// client that consumes nothing else to read) on topic (empty:
// schemas.TopicCatalogPublished).
func NewPublishedLog(cl *kgo.Client, topic string, now func() time.Time, logger *slog.Logger) *PublishedLog {
	if topic == "" {
		topic = schemas.TopicCatalogPublished
	}
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &PublishedLog{cl: cl, topic: topic, now: now, log: logger, readWait: LatestReadWait}
}

// Record writes what was published, the CSV included when it fits.
func (l *PublishedLog) Record(ctx context.Context, doc pipeline.CatalogDocument, res pipeline.CatalogPublishResult) error {
	p := Published{Name: doc.Name, Hash: doc.Hash, Rows: doc.Rows, Bytes: len(doc.Content), DocumentID: res.DocumentID,
		Uploaded: !res.Skipped, At: l.now().UTC()}
	value := doc.Content
	if len(value) > MaxKeptCSV {
		p.CSVOmitted = fmt.Sprintf("the CSV is %d bytes, more than the %d kept", len(value), MaxKeptCSV)
		// Empty, not nil: a nil value is a tombstone, which the cleaner of
		// the compacted topic removes, record and all.
		value = []byte{}
	}
	meta, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("catalog published record: %w", err)
	}
	rec := &kgo.Record{Topic: l.topic, Partition: 0, Key: []byte(publishedKey), Value: value,
		Headers: []kgo.RecordHeader{{Key: schemas.HeaderCatalogPublished, Value: meta}}}
	if err := l.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("write %s: %w", l.topic, err)
	}
	return nil
}

// LatestReadWait bounds how long Latest waits for the last record once the
// end offset is known: a record that is not there (removed by compaction:
// older processors wrote an omitted CSV as a tombstone; or a transaction
// marker) would otherwise be polled for until ctx ends.
const LatestReadWait = 10 * time.Second

// Latest reads the last record: its description and CSV (nil when omitted:
// Published.CSVOmitted says why); false when nothing was ever published.
// A last offset that holds no readable record is an error after
// LatestReadWait.
func (l *PublishedLog) Latest(ctx context.Context) (Published, []byte, bool, error) {
	ends, err := kadm.NewClient(l.cl).ListEndOffsets(ctx, l.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return Published{}, nil, false, fmt.Errorf("end offset of %s: %w", l.topic, err)
	}
	end, ok := ends.Lookup(l.topic, 0)
	if !ok || end.Offset == 0 {
		return Published{}, nil, false, nil
	}
	snap := consume.Snapshot{Topic: l.topic, Spans: map[int32]consume.Span{0: {Start: end.Offset - 1, End: end.Offset}}}
	var p Published
	var csv []byte
	found := false
	rctx, cancel := context.WithTimeout(ctx, l.readWait)
	defer cancel()
	err = snap.Read(rctx, l.cl, func(r *kgo.Record) error {
		for _, h := range r.Headers {
			if h.Key == schemas.HeaderCatalogPublished {
				if err := json.Unmarshal(h.Value, &p); err != nil {
					return fmt.Errorf("%s@%d: header %s: %w", l.topic, r.Offset, h.Key, err)
				}
				csv, found = r.Value, true
			}
		}
		return nil
	})
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%s@%d: no readable record there within %s (removed by compaction, or a transaction marker): %w",
			l.topic, end.Offset-1, l.readWait, err)
	}
	if err != nil {
		return Published{}, nil, false, err
	}
	if p.CSVOmitted != "" {
		csv = nil
	}
	if !found {
		return Published{}, nil, false, fmt.Errorf("%s@%d: no %s header", l.topic, end.Offset-1, schemas.HeaderCatalogPublished)
	}
	return p, csv, true, nil
}

// RecordingTarget is a catalog target that records every successful
// publish on a PublishedLog. The record is informational (the console's
// catalog page): failing to write it is logged, not returned, since the
// knowledge base already holds the catalog; the next sync writes it again.
type RecordingTarget struct {
	Target pipeline.CatalogTarget
	Log    *PublishedLog
}

// PublishCatalog publishes through Target, then records.
func (t RecordingTarget) PublishCatalog(ctx context.Context, doc pipeline.CatalogDocument) (pipeline.CatalogPublishResult, error) {
	res, err := t.Target.PublishCatalog(ctx, doc)
	if err != nil {
		return res, err
	}
	if rerr := t.Log.Record(ctx, doc, res); rerr != nil {
		t.Log.log.Warn("catalog published, but its record for the console was not written", "hash", doc.Hash, "error", rerr)
	}
	return res, nil
}
