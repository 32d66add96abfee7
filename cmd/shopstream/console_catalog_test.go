package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/catalog"
	"github.com/shopstream/shopstream/connectors/kafka/kafkatest"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// The console's reader of shopstream.catalog.published reads the record
// (a client and the whole CSV) only when the topic's end offset moved:
// views of an unchanged catalog are served from what it kept.
func TestPublishedReaderReadsTheRecordOnlyWhenItChanged(t *testing.T) {
	c := kafkatest.Fake(t, kfake.SeedTopics(1, schemas.TopicCatalogPublished))
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = c.ListenAddrs()
	log := slog.New(slog.DiscardHandler)
	cl, err := kafka.NewClient(kcfg, "test", log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	r := newPublishedReader(kcfg, cl, log)
	opened := 0
	open := r.open
	r.open = func() (*kgo.Client, error) { opened++; return open() }
	ctx := t.Context()

	if _, _, ok, err := r.Latest(ctx); ok || err != nil {
		t.Fatalf("empty topic: %v %v", ok, err)
	}
	writer := catalog.NewPublishedLog(cl, "", time.Now, log)
	record := func(csv string) {
		t.Helper()
		doc := pipeline.CatalogDocument{Name: "c.csv", Hash: "h" + csv, Content: []byte(csv), Rows: 1}
		if err := writer.Record(ctx, doc, pipeline.CatalogPublishResult{DocumentID: "d"}); err != nil {
			t.Fatal(err)
		}
	}
	record("sku\nA1\n")
	opened = 0
	for range 3 {
		p, csv, ok, err := r.Latest(ctx)
		if err != nil || !ok || !bytes.Equal(csv, []byte("sku\nA1\n")) || p.Hash != "hsku\nA1\n" {
			t.Fatalf("latest: %+v %q %v %v", p, csv, ok, err)
		}
	}
	if opened != 1 {
		t.Errorf("three views of one record opened %d readers, want 1", opened)
	}
	record("sku\nB2\n")
	if _, csv, _, err := r.Latest(ctx); err != nil || string(csv) != "sku\nB2\n" {
		t.Fatalf("after a new publish: %q %v", csv, err)
	}
	if opened != 2 {
		t.Errorf("a new record opened %d readers in all, want 2", opened)
	}
}

// console.secure_cookies: auto is Secure outside development only; true
// and false say so everywhere.
func TestConsoleSecureCookiesSetting(t *testing.T) {
	for _, tc := range []struct {
		dev     bool
		environ []string
		want    bool
	}{
		{false, nil, true},
		{true, nil, false},
		{false, []string{"SHOPSTREAM_CONSOLE_SECURE_COOKIES=false"}, false},
		{true, []string{"SHOPSTREAM_CONSOLE_SECURE_COOKIES=true"}, true},
	} {
		k, err := loadConfigFor("", tc.environ, tc.dev)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := parseConfig(k)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Development = tc.dev
		if got := consoleConfig(cfg, slog.New(slog.DiscardHandler)).SecureCookies; got != tc.want {
			t.Errorf("dev %v %v: SecureCookies %v", tc.dev, tc.environ, got)
		}
	}
	k, err := loadConfigFor("", []string{"SHOPSTREAM_CONSOLE_SECURE_COOKIES=maybe"}, false)
	if err == nil {
		_, err = parseConfig(k)
	}
	if err == nil || !strings.Contains(err.Error(), "console.secure_cookies") {
		t.Errorf("a wrong value: %v", err)
	}
}
