package catalog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/kafkatest"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

type fixedTarget struct {
	res pipeline.CatalogPublishResult
	err error
}

func (f fixedTarget) PublishCatalog(context.Context, pipeline.CatalogDocument) (pipeline.CatalogPublishResult, error) {
	return f.res, f.err
}

// On the real broker: every successful publish is recorded with its CSV,
// the last one is what Latest reads, a CSV over 1 MiB (the broker's default
// message size) still fits, one over MaxKeptCSV is recorded without it,
// and a failed publish records nothing.
func TestIntegrationPublishedLogKeepsTheLastCatalog(t *testing.T) {
	topic := kafkatest.CreateTopic(t, schemas.TopicCatalogPublished, 1, map[string]string{
		"cleanup.policy": "compact", "max.message.bytes": strconv.Itoa(kafka.PublishedMaxMessageBytes)})
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	writer := NewPublishedLog(kafkatest.NewClient(t, PublishedClientOpts()...), topic, func() time.Time { return now }, nil)
	reader := func() *PublishedLog { return NewPublishedLog(kafkatest.NewClient(t), topic, nil, nil) }
	ctx := t.Context()

	if _, _, ok, err := reader().Latest(ctx); ok || err != nil {
		t.Fatalf("empty topic: %v %v", ok, err)
	}
	doc := func(content []byte) pipeline.CatalogDocument {
		return pipeline.CatalogDocument{Name: "shopstream-catalog-x.csv", Hash: "h" + strconv.Itoa(len(content)), Content: content, Rows: bytes.Count(content, []byte("\n")) - 1}
	}
	small := []byte("sku,name\nA1,Blue shirt\n")
	rt := RecordingTarget{Target: fixedTarget{res: pipeline.CatalogPublishResult{DocumentID: "7400000000000000001"}}, Log: writer}
	if _, err := rt.PublishCatalog(ctx, doc(small)); err != nil {
		t.Fatal(err)
	}
	p, csv, ok, err := reader().Latest(ctx)
	if err != nil || !ok || !bytes.Equal(csv, small) || p.DocumentID != "7400000000000000001" || !p.Uploaded ||
		p.Rows != 1 || p.Bytes != len(small) || !p.At.Equal(now) || p.CSVOmitted != "" {
		t.Fatalf("latest: %+v %q %v %v", p, csv, ok, err)
	}

	// 3 MiB of incompressible hex: over the broker's 1 MiB default.
	big := make([]byte, 3<<20)
	_, _ = rand.Read(big[:len(big)/2])
	hex.Encode(big, big[:len(big)/2])
	now = now.Add(time.Minute)
	skipped := RecordingTarget{Target: fixedTarget{res: pipeline.CatalogPublishResult{DocumentID: "7400000000000000002", Skipped: true}}, Log: writer}
	if _, err := skipped.PublishCatalog(ctx, doc(big)); err != nil {
		t.Fatal(err)
	}
	p, csv, _, err = reader().Latest(ctx)
	if err != nil || !bytes.Equal(csv, big) || p.Uploaded || p.DocumentID != "7400000000000000002" {
		t.Fatalf("3 MiB: %+v (%d bytes) %v", p, len(csv), err)
	}

	// Failed publish: nothing recorded.
	failing := RecordingTarget{Target: fixedTarget{err: errors.New("coze down")}, Log: writer}
	if _, err := failing.PublishCatalog(ctx, doc(small)); err == nil {
		t.Fatal("the target's error was swallowed")
	}
	// Too big to keep: recorded without the CSV.
	huge := bytes.Repeat([]byte("sku,name\n"), MaxKeptCSV/9+1)
	if err := writer.Record(ctx, doc(huge), pipeline.CatalogPublishResult{DocumentID: "3"}); err != nil {
		t.Fatal(err)
	}
	p, csv, _, err = reader().Latest(ctx)
	if err != nil || csv != nil || p.CSVOmitted == "" || p.Bytes != len(huge) || p.DocumentID != "3" {
		t.Fatalf("huge: %+v (%d bytes) %v", p, len(csv), err)
	}
	// That record is no tombstone: the cleaner of the compacted topic
	// would remove it and leave Latest nothing to read.
	recs := kafkatest.NewConsumer(t, topic).Read(3, 30*time.Second)
	if last := recs[len(recs)-1]; last.Value == nil {
		t.Error("the record without its CSV has a nil value: a tombstone")
	}
}

// A last offset that holds no readable record (here a transaction's commit
// marker; in production a tombstone the cleaner removed) is an error after
// the read wait, not a wait until the context ends.
func TestIntegrationPublishedLatestWithoutARecordAtTheEndFails(t *testing.T) {
	topic := kafkatest.CreateTopic(t, schemas.TopicCatalogPublished, 1, map[string]string{"cleanup.policy": "compact"})
	tx := kafkatest.NewClient(t, kgo.TransactionalID(topic+"-tx"), kgo.DefaultProduceTopic(topic))
	ctx := t.Context()
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	meta := []byte(`{"name":"x.csv"}`)
	rec := &kgo.Record{Key: []byte(publishedKey), Value: []byte("sku\n"), Headers: []kgo.RecordHeader{{Key: schemas.HeaderCatalogPublished, Value: meta}}}
	if err := tx.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	// The commit marker is written after EndTransaction returns: wait for it.
	for deadline := time.Now().Add(30 * time.Second); kafkatest.EndOffsets(t, topic)[0] < 2; {
		if time.Now().After(deadline) {
			t.Fatal("no commit marker on the partition within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	reader := NewPublishedLog(kafkatest.NewClient(t), topic, nil, nil)
	reader.readWait = 2 * time.Second
	p, csv, ok, err := reader.Latest(ctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no readable record") {
		t.Fatalf("Latest: %+v %q %v %v", p, csv, ok, err)
	}
}
