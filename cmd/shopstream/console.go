package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/shopstream/shopstream/connectors/clickhouse"
	"github.com/shopstream/shopstream/connectors/console"
	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/catalog"
	"github.com/shopstream/shopstream/connectors/localfile"
	"github.com/shopstream/shopstream/internal/lifecycle"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// consoleConfig is the console's part of the settings (console.*); dev
// allows anonymous access when no credentials are set (it listens on
// loopback).
func consoleConfig(cfg Config, log *slog.Logger) console.Config {
	secure := cfg.ConsoleSecureCookies == "true" || cfg.ConsoleSecureCookies == "auto" && !cfg.Development
	return console.Config{Addr: cfg.ConsoleAddr, Token: cfg.ConsoleToken, User: cfg.ConsoleUser,
		Password: cfg.ConsolePassword, SessionKey: cfg.ConsoleSessionKey, Development: cfg.Development,
		SecureCookies: secure, Log: log}
}

// runConsole is `shopstream console`: the operations console over the
// broker and ClickHouse.
func runConsole(ctx context.Context, args []string) error {
	cfg, log, err := commonFlags(RoleConsole, args, nil)
	if err != nil {
		return err
	}
	ccfg := consoleConfig(cfg, log)
	if err := ccfg.Validate(); err != nil {
		return err
	}
	var gatherer prometheus.Gatherer
	if len(cfg.ConsoleMetricsURLs) > 0 {
		gatherer = console.ScrapeMetrics{URLs: cfg.ConsoleMetricsURLs}
	}
	reg := newRegistry()
	admin, err := adminParts(cfg, RoleConsole, log, reg)
	if err != nil {
		return err
	}
	p, err := newConsolePart(ctx, cfg, ccfg, log, gatherer)
	if err != nil {
		_ = lifecycle.Close(ctx, log, admin...) // the console error is the one to report
		return err
	}
	fmt.Printf("shopstream console on http://%s\n", ccfg.Addr)
	return lifecycle.Run(ctx, log, append(admin, p)...)
}

// newConsolePart opens ClickHouse and builds the console as a part (dev
// runs it beside the other roles and passes its own registry as metrics).
func newConsolePart(ctx context.Context, cfg Config, ccfg console.Config, log *slog.Logger, metrics prometheus.Gatherer) (lifecycle.Part, error) {
	if err := ccfg.Validate(); err != nil {
		return lifecycle.Part{}, err
	}
	octx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	store, err := clickhouse.Open(octx, cfg.ClickHouseDSN, clickhouse.WithLogger(log))
	if err != nil {
		return lifecycle.Part{}, fmt.Errorf("console: %w", err)
	}
	kcfg := kafkaConfig(cfg)
	cl, err := kafka.NewClient(kcfg, "console-admin", log, nil)
	if err != nil {
		_ = store.Close() // the client error is the one to report
		return lifecycle.Part{}, err
	}
	closeAll := func(context.Context) error { cl.Close(); return store.Close() }
	deps := console.Deps{
		Events:      store,
		DeadLetters: console.KafkaDeadLetters{Config: kcfg, Log: log, Rate: 200}.WithIndex(0),
		Lag: kafka.NewLagMonitor(kadm.NewClient(cl), schemas.GroupTopics(cfg.RetryTiers, schemas.GroupProcessor, schemas.GroupCatalog, schemas.GroupSink),
			time.Minute, log, nil),
		Metrics:  metrics,
		Messages: store,
	}
	if cfg.CozeToken == "" { // the catalog is a local file (dev, or sync to a file)
		path := filepath.Join(cfg.DataDir, "catalog.csv")
		fc := console.FileCatalog{Path: path}
		if cfg.EverShopURL == "" { // the source is the state topic: regenerate reads it like the owner does
			state := catalog.NewState(cl, kcfg, schemas.TopicCatalogState, log)
			sync := pipeline.NewCatalogSync(state, localfile.NewCatalogFile(path, time.Now), time.Now)
			fc.Regen = func(ctx context.Context) error { _, err := sync.Sync(ctx); return err }
		} else {
			fc.Request = requestRegeneration(cl)
		}
		deps.Catalog = fc
	} else if deps.Catalog, err = cozeCatalog(cfg, kcfg, cl, log); err != nil { // console_catalog.go
		_ = closeAll(ctx) // the configuration error is the one to report
		return lifecycle.Part{}, err
	}
	srv, err := console.New(ccfg, deps)
	if err != nil {
		_ = closeAll(ctx) // the console error is the one to report
		return lifecycle.Part{}, err
	}
	return lifecycle.Part{Name: "console", Run: srv.Run, Close: closeAll}, nil
}

// devConsole is the console of `dev` (beside the sink, which means
// ClickHouse is there), or nothing, with the reason logged.
func devConsole(ctx context.Context, cfg Config, log *slog.Logger, reg *prometheus.Registry) []lifecycle.Part {
	ccfg := consoleConfig(cfg, log)
	p, err := newConsolePart(ctx, cfg, ccfg, log, reg)
	if err != nil {
		log.Warn("console not started", "error", err)
		return nil
	}
	login := "no login (dev, no SHOPSTREAM_CONSOLE_TOKEN)"
	if ccfg.Token != "" || ccfg.User != "" {
		login = "log in with SHOPSTREAM_CONSOLE_TOKEN or _USER/_PASSWORD"
	}
	log.Info("operations console", "url", "http://"+ccfg.Addr, "login", login)
	return []lifecycle.Part{p}
}
