package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/coze"
	"github.com/shopstream/shopstream/connectors/evershop"
	"github.com/shopstream/shopstream/connectors/inbox"
	"github.com/shopstream/shopstream/connectors/ingress"
	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/catalog"
	"github.com/shopstream/shopstream/connectors/kafka/consume"
	"github.com/shopstream/shopstream/connectors/localfile"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

func runProcess(ctx context.Context, args []string) error {
	cfg, log, err := commonFlags("process", args, false, nil)
	if err != nil {
		return err
	}
	reg := newRegistry()
	parts, err := newProcessor(ctx, cfg, log, reg, false)
	if err != nil {
		return err
	}
	cl, err := kafka.NewClient(kafkaConfig(cfg), "process-admin", log, nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	admin := ingress.NewAdmin(cfg.AdminAddr, reg, topicsReady(adm, processorTopics(cfg)), log.With("component", "admin"))
	lag := kafka.NewLagMonitor(adm, lagGroups(cfg, schemas.GroupProcessor, schemas.GroupCatalog), 15*time.Second, log, reg)
	return runParts(ctx, log, append(parts, part{name: "admin", run: admin.Run}, part{name: "lag", run: lag.Run})...)
}

func processorTopics(cfg Config) []string {
	topics := append([]string(nil), schemas.SourceTopics...)
	for _, d := range cfg.RetryTiers {
		topics = append(topics, schemas.RetryTopic(d))
	}
	return topics
}

// newProcessor wires the processor group consumer and the catalog trigger.
// local (dev) lets notifications and the catalog go to files when no inbox
// or knowledge base is configured.
func newProcessor(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer, local bool) ([]part, error) {
	log = log.With("component", "processor")
	kcfg := kafkaConfig(cfg)
	httpClient := &http.Client{Timeout: 2 * time.Minute}

	var closers []func(context.Context) error
	closeAll := func(ctx context.Context) error {
		var err error
		for i := len(closers) - 1; i >= 0; i-- {
			err = errors.Join(err, closers[i](ctx))
		}
		return err
	}
	fail := func(err error) ([]part, error) {
		_ = closeAll(context.WithoutCancel(ctx))
		return nil, err
	}

	prod, err := kafka.NewProducer(kcfg, "processor-producer", log, reg)
	if err != nil {
		return nil, err
	}
	closers = append(closers, prod.Close)
	outcomes, err := kafka.NewOutcomeWriter(kcfg, "processor", log, reg)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, outcomes.Close)
	fwd := kafka.NewForwarder(prod, cfg.RetryTiers, nil, reg)
	ledger, err := newOrderLedger(kcfg, cfg, log, reg)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, ledger.Close)

	var notifier pipeline.Notifier
	switch {
	case cfg.InboxURL != "":
		c, err := inbox.New(inbox.Config{BaseURL: cfg.InboxURL, Token: cfg.InboxToken, Tenant: cfg.InboxTenant}, httpClient, log)
		if err != nil {
			return fail(configErr("inbox.api_url", err))
		}
		notifier = inboxNotifier{c}
	case local:
		l, err := localfile.OpenNotificationLog(filepath.Join(cfg.DataDir, "notifications.jsonl"), time.Now)
		if err != nil {
			return fail(err)
		}
		closers = append(closers, func(context.Context) error { return l.Close() })
		notifier = l
	default:
		return fail(configErr("inbox.api_url", errors.New("is required for shopstream process")))
	}

	var state *catalog.State
	var source pipeline.CatalogSource
	if cfg.EverShopURL != "" {
		c, err := evershop.New(evershop.Config{BaseURL: cfg.EverShopURL, Email: cfg.EverShopEmail, Password: cfg.EverShopPassword}, httpClient, log)
		if err != nil {
			return fail(configErr("evershop.api_url", err))
		}
		source = evershopCatalog{c: c, log: log}
	} else {
		state = catalog.NewState(prod.Client(), kcfg, schemas.TopicCatalogState, log)
		source = state
	}
	var target pipeline.CatalogTarget
	switch {
	case cfg.CozeToken != "":
		c, err := coze.New(coze.Config{BaseURL: cfg.CozeURL, Token: cfg.CozeToken, DatasetID: cfg.CozeDatasetID, FileType: cfg.CozeFileType}, httpClient, log)
		if err != nil {
			return fail(configErr("coze.api_token", err))
		}
		target = cozeCatalog{c}
	case local || !cfg.CatalogAutoSync:
		target = localfile.NewCatalogFile(filepath.Join(cfg.DataDir, "catalog.csv"), time.Now)
	default:
		return fail(configErr("coze.api_token", errors.New("is required for shopstream process (or set WEBHOOK_AUTO_SYNC_PRODUCTS=false)")))
	}

	var marker pipeline.CatalogMarker = catalog.NewMarks(prod, nil, nil)
	if state != nil {
		marker = catalog.NewMarks(prod, state, nil)
	}
	recorder := pipeline.Recorders{outcomes, kafka.NewProcessorMetrics(reg)}
	proc, err := pipeline.NewProcessor(pipeline.ProcessorConfig{
		Retry:                 cfg.RetryPolicy(),
		SendOrderConfirmation: cfg.SendOrderConfirmation,
		SendWelcome:           cfg.SendWelcome,
		AutoSyncCatalog:       cfg.CatalogAutoSync,
	}, pipeline.ProcessorDeps{
		Ledger:   ledger,
		Notifier: notifier, Catalog: marker, Forwarder: fwd, Recorder: recorder, Logger: log,
		Observer: kafka.NewRetryMetrics(reg, nil),
	})
	if err != nil {
		return fail(err)
	}
	consumer, err := consume.New(kcfg, consume.Config{
		Group: schemas.GroupProcessor, Topics: processorTopics(cfg), Role: "processor-consumer",
		Handle: kafka.ProcessorHandler(proc), DueAt: kafka.DueAt, BeforeCommit: outcomes.Flush,
		// Partition p of every topic the processor reads lands on one
		// member (docs/contract.md); Run refuses mismatched partition counts.
		Balancer: kgo.RangeBalancer(), CoPartitioned: true,
		// No tier record holds its partition longer than the Retry-After
		// clamp (or the longest tier delay, if that is longer).
		MaxHold: maxHold(cfg.RetryPolicy()),
		// The order ledger loads partition p of shopstream.order.progress
		// before the order and retry workers of p start; it and the catalog
		// state forget a partition that moves away.
		OnAssigned: ledger.OnAssigned, CoPartitionedWith: []string{schemas.TopicOrderProgress},
		OnRevoked:      revokedHooks(ledger.OnRevoked, catalogStateRevoked(state)),
		SessionTimeout: 10 * time.Second,
	}, log, reg)
	if err != nil {
		return fail(err)
	}
	parts := []part{{name: "processor", run: consumer.Run}}
	if cfg.CatalogAutoSync {
		trigger, err := catalog.NewTrigger(kcfg, catalog.TriggerConfig{
			Group: schemas.GroupCatalog, Quiet: cfg.CatalogQuiet, MaxWait: cfg.CatalogMaxWait,
			BeforeCommit: outcomes.Flush,
		}, pipeline.NewCatalogSync(source, target, time.Now), fwd, recorder, log, reg)
		if err != nil {
			return fail(err)
		}
		parts = append(parts, part{name: "catalog-sync", run: trigger.Run})
	}
	// Close the producers after both consumers stopped.
	parts = append(parts, part{name: "processor-producers", close: closeAll})
	return parts, nil
}

// catalogStateRevoked is the processor's OnRevoked hook for the catalog
// state, nil when the catalog comes from EverShop's API.
func catalogStateRevoked(state *catalog.State) func(context.Context, string, int32) {
	if state == nil {
		return nil
	}
	return state.OnRevoked
}

func configErr(key string, err error) error {
	p := parser{}
	p.fail(key, err)
	return p.err
}

// lagGroups maps each named consumer group to the topics it consumes, for
// the lag monitor.
func lagGroups(cfg Config, groups ...string) map[string][]string {
	all := map[string][]string{
		schemas.GroupProcessor: processorTopics(cfg),
		schemas.GroupCatalog:   {schemas.TopicCatalogSync},
		schemas.GroupSink:      {schemas.TopicEvents},
	}
	out := map[string][]string{}
	for _, g := range groups {
		out[g] = all[g]
	}
	return out
}

// maxHold is the longest a retry tier's head record may hold its partition.
func maxHold(p pipeline.RetryPolicy) time.Duration {
	h := p.EffectiveRetryAfterMax()
	for _, d := range p.Tiers {
		h = max(h, d)
	}
	return h
}
