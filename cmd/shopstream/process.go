package main

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/coze"
	"github.com/shopstream/shopstream/connectors/evershop"
	"github.com/shopstream/shopstream/connectors/inbox"
	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/catalog"
	"github.com/shopstream/shopstream/connectors/kafka/consume"
	"github.com/shopstream/shopstream/connectors/kafka/progress"
	"github.com/shopstream/shopstream/connectors/localfile"
	"github.com/shopstream/shopstream/internal/lifecycle"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

func runProcess(ctx context.Context, args []string) error {
	cfg, log, err := commonFlags(RoleProcess, args, nil)
	if err != nil {
		return err
	}
	reg := newRegistry()
	parts, err := newProcessor(ctx, cfg, log, reg, false)
	if err != nil {
		return err
	}
	admin, err := adminParts(cfg, RoleProcess, log, reg, schemas.GroupProcessor, schemas.GroupCatalog, schemas.GroupAlerts)
	if err != nil {
		_ = lifecycle.Close(context.WithoutCancel(ctx), log, parts...) // the wiring error is the one to report
		return err
	}
	return lifecycle.Run(ctx, log, append(parts, admin...)...)
}

// newProcessor wires the processor group consumer and the catalog trigger.
// local (dev) sends notifications and the catalog to files when no inbox or
// knowledge base is configured; otherwise cfg must satisfy
// Validate(RoleProcess).
func newProcessor(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer, local bool) (_ []lifecycle.Part, err error) {
	if !local {
		if err := cfg.Validate(RoleProcess); err != nil {
			return nil, err
		}
	}
	log = log.With("component", "processor")
	kcfg := kafkaConfig(cfg)
	var opened lifecycle.Stack
	defer func() {
		if err != nil {
			_ = opened.Close(context.WithoutCancel(ctx)) // the wiring error is the one to report
		}
	}()
	prod, outcomes, err := processorProducers(kcfg, log, reg, &opened)
	if err != nil {
		return nil, err
	}
	fwd := kafka.NewForwarder(prod, cfg.RetryTiers, nil, reg)
	ledger, err := newOrderLedger(kcfg, cfg, log, reg)
	if err != nil {
		return nil, err
	}
	opened.Push(ledger.Close)
	recorder := pipeline.Recorders{outcomes, kafka.NewProcessorMetrics(reg)}

	httpClient := &http.Client{Timeout: 2 * time.Minute}
	notifier, err := newNotifier(cfg, httpClient, log, &opened)
	if err != nil {
		return nil, err
	}
	alerts, err := newAlerts(cfg, kcfg, prod, notifier, alertDeps{fwd, recorder}, local, log, reg, &opened) // alerts.go
	if err != nil {
		return nil, err
	}
	state, marks := catalogMarks(cfg, prod, kcfg, log)
	proc, err := pipeline.NewProcessor(pipeline.ProcessorConfig{
		Retry:                 cfg.RetryPolicy(),
		SendOrderConfirmation: cfg.SendOrderConfirmation,
		SendWelcome:           cfg.SendWelcome,
		AutoSyncCatalog:       cfg.CatalogAutoSync,
		HoldAlertAfter:        cfg.Alerts.HoldAfter,
	}, pipeline.ProcessorDeps{
		Alerts: alerts.engine, AlertSender: alerts.sender, AlertDispatch: alerts.dispatch,
		Ledger:   ledger,
		Notifier: notifier, Catalog: marks, Forwarder: fwd, Recorder: recorder,
		Logger: log, Observer: kafka.NewRetryMetrics(reg, cfg.RetryMaxAge, nil),
	})
	if err != nil {
		return nil, err
	}
	consumer, err := consume.New(kcfg, alerts.consumer(processorConsumer(cfg, proc, outcomes, state, ledger)), log, reg)
	if err != nil {
		return nil, err
	}
	parts := append([]lifecycle.Part{{Name: "processor", Run: consumer.Run}}, alerts.parts()...)
	if cfg.CatalogAutoSync {
		catalogSync, err := newCatalogSync(cfg, httpClient, log, state, kcfg, &opened)
		if err != nil {
			return nil, err
		}
		trigger, err := catalog.NewTrigger(kcfg, catalog.TriggerConfig{
			Group: schemas.GroupCatalog, Quiet: cfg.CatalogQuiet, MaxWait: cfg.CatalogMaxWait,
			BeforeCommit: outcomes.Flush,
		}, catalogSync, fwd, recorder, log, reg)
		if err != nil {
			return nil, err
		}
		parts = append(parts, lifecycle.Part{Name: "catalog-sync", Run: trigger.Run})
	}
	// Close the producers after both consumers stopped.
	return append(parts, lifecycle.Part{Name: "processor-producers", Close: opened.Close}), nil
}

// processorProducers are the processor's two writers: retry tiers, DLQ and
// catalog marks through prod, outcome records through outcomes.
func processorProducers(kcfg kafka.Config, log *slog.Logger, reg prometheus.Registerer, opened *lifecycle.Stack) (*kafka.Producer, *kafka.OutcomeWriter, error) {
	prod, err := kafka.NewProducer(kcfg, "processor-producer", log, reg)
	if err != nil {
		return nil, nil, err
	}
	opened.Push(prod.Close)
	outcomes, err := kafka.NewOutcomeWriter(kcfg, "processor", log, reg)
	if err != nil {
		return nil, nil, err
	}
	opened.Push(outcomes.Close)
	return prod, outcomes, nil
}

// catalogMarks is how product events mark the catalog dirty. Without
// EverShop's API the catalog is the product events' own state, which the
// marks keep as well (state is nil otherwise).
func catalogMarks(cfg Config, prod *kafka.Producer, kcfg kafka.Config, log *slog.Logger) (*catalog.State, *catalog.Marks) {
	if cfg.EverShopURL != "" {
		return nil, catalog.NewMarks(prod, nil, nil)
	}
	state := catalog.NewState(prod.Client(), kcfg, schemas.TopicCatalogState, log)
	return state, catalog.NewMarks(prod, state, nil)
}

// processorConsumer is the processor group's consumer configuration.
func processorConsumer(cfg Config, proc *pipeline.Processor, outcomes *kafka.OutcomeWriter, state *catalog.State, ledger *progress.Ledger) consume.Config {
	c := consume.Config{
		Group: schemas.GroupProcessor, Topics: schemas.ProcessorTopics(cfg.RetryTiers), Role: "processor-consumer",
		// A partition's queued records are handled as a run: their order
		// claims share one acks=all ledger write (README "Cost per event").
		HandleRun: kafka.ProcessorRunHandler(proc), DueAt: kafka.DueAt, BeforeCommit: outcomes.Flush,
		// Partition p of every topic the processor reads lands on one
		// member (docs/contract.md); Run refuses mismatched partition counts.
		Balancer: kgo.RangeBalancer(), CoPartitioned: true,
		// No tier record holds its partition longer than the Retry-After
		// clamp (or the longest tier delay, if that is longer).
		MaxHold:        cfg.RetryPolicy().MaxHold(),
		SessionTimeout: 10 * time.Second,
		// The order ledger loads partition p of shopstream.order.progress
		// before the order and retry workers of p start, and forgets it
		// when p moves away; Run refuses a progress topic with another
		// partition count.
		OnAssigned: ledger.OnAssigned, OnRevoked: ledger.OnRevoked,
		CoPartitionedWith: []string{schemas.TopicOrderProgress},
	}
	if state != nil {
		// The catalog state forgets the versions of a product partition
		// that moves away (its next owner writes them).
		c.OnRevoked = revokedHooks(ledger.OnRevoked, state.OnRevoked)
	}
	return c
}

// newNotifier is the support inbox, or in dev without one a local file.
func newNotifier(cfg Config, hc *http.Client, log *slog.Logger, opened *lifecycle.Stack) (pipeline.Notifier, error) {
	if cfg.InboxURL != "" {
		c, err := inbox.New(inbox.Config{BaseURL: cfg.InboxURL, Token: cfg.InboxToken, Tenant: cfg.InboxTenant}, hc, log)
		if err != nil {
			return nil, configErr("inbox.api_url", err)
		}
		return c, nil
	}
	l, err := localfile.OpenNotificationLog(filepath.Join(cfg.DataDir, "notifications.jsonl"), time.Now)
	if err != nil {
		return nil, err
	}
	opened.Push(func(context.Context) error { return l.Close() })
	return l, nil
}

// newCatalogSync renders the catalog from EverShop's admin API (or, without
// it, from the product events' state) and publishes it to Coze (or, without
// a token, to a local file).
func newCatalogSync(cfg Config, hc *http.Client, log *slog.Logger, state *catalog.State, kcfg kafka.Config, opened *lifecycle.Stack) (*pipeline.CatalogSync, error) {
	var source pipeline.CatalogSource = state
	if cfg.EverShopURL != "" {
		c, err := evershop.New(evershop.Config{BaseURL: cfg.EverShopURL, Email: cfg.EverShopEmail, Password: cfg.EverShopPassword}, hc, log)
		if err != nil {
			return nil, configErr("evershop.api_url", err)
		}
		source = c
	}
	var target pipeline.CatalogTarget = localfile.NewCatalogFile(filepath.Join(cfg.DataDir, "catalog.csv"), time.Now)
	if cfg.CozeToken != "" {
		c, err := coze.New(coze.Config{BaseURL: cfg.CozeURL, Token: cfg.CozeToken, DatasetID: cfg.CozeDatasetID, FileType: cfg.CozeFileType}, hc, log)
		if err != nil {
			return nil, configErr("coze.api_token", err)
		}
		if target, err = recordPublished(c, kcfg, log, opened); err != nil { // console_catalog.go
			return nil, err
		}
	}
	return pipeline.NewCatalogSync(source, target, time.Now), nil
}
