package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/internal/lifecycle"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// runDev is `make run`: an embedded broker persisted under the data dir, the
// topics, and every role in one process, with a signed curl to try it.
func runDev(ctx context.Context, args []string) error {
	cfg, log, err := commonFlags(RoleDev, args, nil)
	if err != nil {
		return err
	}
	cfg.Development = true
	if !isLoopback(cfg.HTTPAddr) {
		log.Warn("dev listens beyond loopback: the unsigned /api/webhooks/test endpoint is reachable from other machines", "addr", cfg.HTTPAddr)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("dev: data dir: %w", err)
	}
	if cfg.SecretText == "" {
		if cfg.SecretText, err = devSecret(filepath.Join(cfg.DataDir, "webhook-secret")); err != nil {
			return err
		}
		if cfg.Secrets, err = pipeline.ParseSecrets(cfg.SecretText); err != nil {
			return err
		}
	}
	if len(cfg.KafkaBrokers) == 0 {
		emb, err := kafka.StartEmbedded(kafka.EmbeddedConfig{DataDir: filepath.Join(cfg.DataDir, "kafka"), Addr: cfg.DevKafkaAddr})
		if err != nil {
			return fmt.Errorf("dev: %w (is another shopstream dev running? set SHOPSTREAM_DEV_KAFKA_ADDR)", err)
		}
		defer emb.Close()
		cfg.KafkaBrokers = emb.Addrs()
	}
	if _, err := ensureTopics(ctx, cfg, log, RoleDev, 30*time.Second); err != nil {
		return fmt.Errorf("dev: topics: %w", err)
	}
	reg := newRegistry()
	parts, err := newIngress(ctx, cfg, log, reg)
	if err != nil {
		return err
	}
	procParts, err := newProcessor(ctx, cfg, log, reg, true)
	if err != nil {
		_ = lifecycle.Close(context.WithoutCancel(ctx), log, parts...) // the wiring error is the one to report
		return err
	}
	parts = append(parts, procParts...)
	groups := []string{schemas.GroupProcessor, schemas.GroupCatalog}
	if cfg.ClickHouseDSN == "" {
		log.Info("CLICKHOUSE_DSN is not set: outcomes stay in evershop.events, no analytics sink")
	} else if sinkParts, err := newSink(ctx, cfg, log, reg); err != nil {
		log.Warn("ClickHouse is not usable: running without the analytics sink", "error", err)
	} else {
		parts = append(parts, sinkParts...)
		groups = append(groups, schemas.GroupSink)
		parts = append(parts, devConsole(ctx, cfg, log, reg)...)
	}
	admin, err := adminParts(cfg, RoleDev, log, reg, groups...)
	if err != nil {
		_ = lifecycle.Close(context.WithoutCancel(ctx), log, parts...) // the wiring error is the one to report
		return err
	}
	parts = append(parts, admin...)
	printDevBanner(cfg)
	return lifecycle.Run(ctx, log, parts...)
}

// isLoopback reports whether a listen address stays on this machine.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// devSecret keeps one generated secret per data dir, so a restarted dev
// keeps accepting what was signed before.
func devSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("dev: read secret: %w", err)
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	secret := "dev-" + hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("dev: write secret: %w", err)
	}
	return secret, nil
}

const devSampleBody = `{"event":"order.updated","timestamp":"2026-11-21T15:02:11Z","data":{"order_id":1001,"order_number":"10001","customer_email":"ana@example.com","status":"processing","previous_status":"new","shipment_status":"shipped","previous_shipment_status":"pending"}}`

func printDevBanner(cfg Config) {
	sig := pipeline.SignEverShop(cfg.Secrets[0], []byte(devSampleBody))
	host := cfg.HTTPAddr
	if strings.HasPrefix(host, ":") {
		host = "localhost" + host
	}
	admin := cfg.AdminAddr
	if strings.HasPrefix(admin, ":") {
		admin = "localhost" + admin
	}
	fmt.Printf(`
shopstream dev is up
  webhooks   http://%[1]s/api/webhooks/evershop/{product,order,customer}
  admin      http://%[2]s/healthz  /readyz  /metrics
  kafka      %[3]s   (kcat -b %[3]s -L)
  data dir   %[4]s   (catalog.csv, notifications.jsonl)
  secret     EVERSHOP_WEBHOOK_SECRET=%[5]s

Send a signed webhook:
  curl -sS http://%[1]s/api/webhooks/evershop/order \
    -H 'Content-Type: application/json' \
    -H 'x-evershop-signature: %[6]s' \
    --data-raw '%[7]s'

Read it back:
  kcat -b %[3]s -C -t evershop.order -e -f 'key=%%k headers=%%h\n%%s\n'

`, host, admin, strings.Join(cfg.KafkaBrokers, ","), cfg.DataDir, cfg.SecretText, sig, devSampleBody)
}
