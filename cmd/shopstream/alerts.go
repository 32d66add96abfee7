package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/alertdigest"
	"github.com/shopstream/shopstream/connectors/kafka/alertstate"
	"github.com/shopstream/shopstream/connectors/kafka/consume"
	"github.com/shopstream/shopstream/connectors/localfile"
	alertwebhook "github.com/shopstream/shopstream/connectors/webhook"
	"github.com/shopstream/shopstream/internal/lifecycle"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// Store alerts: settings, parsing and wiring, all here.

func init() {
	settings = append(settings, alertSettings...)
}

var alertSettings = []setting{
	{"alerts.inventory", "WEBHOOK_INVENTORY_ALERTS", "false", "Store alerts for out of stock, low stock and back in stock."},
	{"alerts.price", "WEBHOOK_PRICE_ALERTS", "false", "Store alerts for regular price changes."},
	{"alerts.low_stock", "SHOPSTREAM_ALERT_LOW_STOCK", "5", "Low stock: quantity crosses from above this to at or below it."},
	{"alerts.price_percent", "SHOPSTREAM_ALERT_PRICE_PERCENT", "10", "Price change: the regular price moves at least this many percent from the last alerted (or first seen) price."},
	{"alerts.sku_low_stock", "SHOPSTREAM_ALERT_SKU_LOW_STOCK", "", "Low-stock thresholds per SKU: `SKU=n,SKU=n`."},
	{"alerts.sku_price_percent", "SHOPSTREAM_ALERT_SKU_PRICE_PERCENT", "", "Price percentages per SKU: `SKU=p,...`."},
	{"alerts.category_low_stock", "SHOPSTREAM_ALERT_CATEGORY_LOW_STOCK", "", "Low-stock thresholds per category id (when the product data carries `category_id`): `id=n,...`."},
	{"alerts.category_price_percent", "SHOPSTREAM_ALERT_CATEGORY_PRICE_PERCENT", "", "Price percentages per category id: `id=p,...`."},
	{"alerts.cooldown", "SHOPSTREAM_ALERT_COOLDOWN", "1h", "Least time between two alerts of one trigger for one product (by the events' updated_at)."},
	{"alerts.quiet_hours", "SHOPSTREAM_ALERT_QUIET_HOURS", "", "`HH:MM-HH:MM`: webhook deliveries are held (in `shopstream.alerts.deferred`) until the window ends, then sent as one digest; the staff inbox gets alerts at once."},
	{"alerts.timezone", "SHOPSTREAM_ALERT_TIMEZONE", "UTC", "Time zone of the quiet hours (IANA name)."},
	{"alerts.staff_email", "SHOPSTREAM_ALERT_STAFF_EMAIL", "", "Support-inbox user whose conversation receives alerts (dev: alerts.jsonl)."},
	{"alerts.webhook_url", "SHOPSTREAM_ALERT_WEBHOOK_URL", "", "Outgoing webhook for alerts (Slack-compatible `text` field)."},
	{"alerts.webhook_secret", "SHOPSTREAM_ALERT_WEBHOOK_SECRET", "", "Signs the outgoing webhook (Standard Webhooks, `whsec_<base64>` or raw); empty = unsigned."},
	{"alerts.store_url", "SHOPSTREAM_ALERT_STORE_URL", "", "EverShop base URL for admin links in alerts; empty = EVERSHOP_API_URL."},
	{"alerts.digest_min", "SHOPSTREAM_ALERT_DIGEST_MIN", "5", "This many alerts or more in one window are sent as one digest (counts, the first ones, the full list as CSV); fewer one by one."},
	{"alerts.digest_first", "SHOPSTREAM_ALERT_DIGEST_FIRST", "10", "How many alerts a digest lists in its text."},
	{"alerts.digest_quiet", "SHOPSTREAM_ALERT_DIGEST_QUIET", "2s", "An alert window closes this long after its last alert..."},
	{"alerts.digest_max_wait", "SHOPSTREAM_ALERT_DIGEST_MAX_WAIT", "30s", "...and never later than this after its first."},
	{"alerts.hold_after", "SHOPSTREAM_ALERT_HOLD_AFTER", "15m", "Needs-a-person alert once an event is held through an inbox outage this long; 0s = never."},
}

// AlertSettings are the parsed alert settings.
type AlertSettings struct {
	Rules         pipeline.AlertRules
	StaffEmail    string
	WebhookURL    string
	WebhookSecret *pipeline.Secret
	StoreURL      string
	HoldAfter     time.Duration
	Digest        pipeline.DigestRule
	DigestQuiet   time.Duration
	DigestMaxWait time.Duration
}

// parseAlerts reads the alert settings with p (the first error names its
// key); storeURL is EVERSHOP_API_URL, the default of alerts.store_url.
func parseAlerts(p *parser, storeURL string) AlertSettings {
	s := AlertSettings{
		StaffEmail: p.str("alerts.staff_email"),
		WebhookURL: p.url("alerts.webhook_url"),
		StoreURL:   p.url("alerts.store_url"),
		HoldAfter:  p.duration("alerts.hold_after", 0, 30*24*time.Hour),
		Digest: pipeline.DigestRule{Min: p.intRange("alerts.digest_min", 2, 1_000_000),
			First: p.intRange("alerts.digest_first", 1, 1000)},
		DigestQuiet:   p.duration("alerts.digest_quiet", 10*time.Millisecond, time.Hour),
		DigestMaxWait: p.duration("alerts.digest_max_wait", 10*time.Millisecond, 24*time.Hour),
	}
	if p.err == nil && s.DigestMaxWait < s.DigestQuiet {
		p.fail("alerts.digest_max_wait", fmt.Errorf("%s is shorter than SHOPSTREAM_ALERT_DIGEST_QUIET %s", s.DigestMaxWait, s.DigestQuiet))
	}
	if s.StoreURL == "" {
		s.StoreURL = storeURL
	}
	r := pipeline.AlertRules{
		Inventory: p.boolean("alerts.inventory"),
		Price:     p.boolean("alerts.price"),
		Cooldown:  p.duration("alerts.cooldown", 0, 30*24*time.Hour),
	}
	var err error
	r.LowStock, err = pipeline.ParseThreshold(p.str("alerts.low_stock"))
	p.fail("alerts.low_stock", err)
	r.PricePercent, err = pipeline.ParsePercent(p.str("alerts.price_percent"))
	p.fail("alerts.price_percent", err)
	r.SKULowStock, err = pipeline.ParseOverrides(p.str("alerts.sku_low_stock"), pipeline.ParseThreshold)
	p.fail("alerts.sku_low_stock", err)
	r.CategoryLowStock, err = pipeline.ParseOverrides(p.str("alerts.category_low_stock"), pipeline.ParseThreshold)
	p.fail("alerts.category_low_stock", err)
	r.SKUPricePercent, err = pipeline.ParseOverrides[*big.Rat](p.str("alerts.sku_price_percent"), pipeline.ParsePercent)
	p.fail("alerts.sku_price_percent", err)
	r.CategoryPricePercent, err = pipeline.ParseOverrides[*big.Rat](p.str("alerts.category_price_percent"), pipeline.ParsePercent)
	p.fail("alerts.category_price_percent", err)
	loc, err := time.LoadLocation(p.str("alerts.timezone"))
	p.fail("alerts.timezone", err)
	if err == nil {
		r.Quiet, err = pipeline.ParseQuietHours(p.str("alerts.quiet_hours"), loc)
		p.fail("alerts.quiet_hours", err)
	}
	if secret := p.str("alerts.webhook_secret"); secret != "" {
		secrets, err := pipeline.ParseSecrets(secret)
		p.fail("alerts.webhook_secret", err)
		if len(secrets) > 0 {
			s.WebhookSecret = &secrets[0]
		}
	}
	s.Rules = r
	return s
}

// validateAlerts is the processor's check: a trigger that is on needs a
// channel. dev has its file target.
func (s AlertSettings) validate(local bool) error {
	if s.Rules.Enabled() && s.StaffEmail == "" && s.WebhookURL == "" && !local {
		return configErr("alerts.staff_email", errors.New("or SHOPSTREAM_ALERT_WEBHOOK_URL is required when WEBHOOK_INVENTORY_ALERTS or WEBHOOK_PRICE_ALERTS is on"))
	}
	return nil
}

// alertWiring is what the processor needs for alerts.
type alertWiring struct {
	engine *pipeline.AlertEngine // nil: no product triggers on
	// sender publishes to shopstream.alerts (nil: no channel); digester
	// sends what is published; dispatch delivers what comes back from the
	// retry tiers.
	sender   pipeline.AlertSender
	digester *alertdigest.Digester
	dispatch *pipeline.AlertDispatch
	states   *alertstate.States
}

// alertDeps are the processor's parts the alert digester shares: a failed
// alert delivery is forwarded and recorded like an event.
type alertDeps struct {
	fwd      pipeline.Forwarder
	recorder pipeline.OutcomeRecorder
}

// parts are the alert roles that run beside the processor.
func (w *alertWiring) parts() []lifecycle.Part {
	if w.digester == nil {
		return nil
	}
	return []lifecycle.Part{{Name: "alert-digest", Run: w.digester.Run}}
}

// newAlerts builds the alert state store, the engine and the channels.
// staff is the processor's notifier (the support inbox, or the dev file);
// in dev (local) alerts go to alerts.jsonl beside notifications.jsonl.
func newAlerts(cfg Config, kcfg kafka.Config, prod *kafka.Producer, staff pipeline.Notifier, deps alertDeps, local bool, log *slog.Logger, reg prometheus.Registerer, opened *lifecycle.Stack) (*alertWiring, error) {
	s := cfg.Alerts
	if err := s.validate(local); err != nil {
		return nil, err
	}
	w := &alertWiring{}
	email := s.StaffEmail
	if local && cfg.InboxURL == "" {
		l, err := localfile.OpenNotificationLog(filepath.Join(cfg.DataDir, "alerts.jsonl"), time.Now)
		if err != nil {
			return nil, err
		}
		opened.Push(func(context.Context) error { return l.Close() })
		staff = l
		if email == "" {
			email = "staff@localhost"
		}
	}
	if email == "" {
		staff = nil
	}
	var hook pipeline.AlertSender
	if s.WebhookURL != "" {
		c, err := alertwebhook.New(alertwebhook.Config{URL: s.WebhookURL, Secret: s.WebhookSecret, StoreURL: s.StoreURL}, &http.Client{Timeout: time.Minute}, log)
		if err != nil {
			return nil, configErr("alerts.webhook_url", err)
		}
		hook = c
	}
	if staff != nil || hook != nil {
		ch, err := pipeline.NewAlertChannels(staff, email, s.StoreURL, hook)
		if err != nil {
			return nil, configErr("alerts.staff_email", err)
		}
		metrics := alertdigest.NewMetrics(reg)
		w.dispatch = &pipeline.AlertDispatch{Channels: metrics.Counted(ch), Quiet: s.Rules.Quiet,
			Defer: alertdigest.NewDeferrer(prod, schemas.TopicAlertsDeferred, nil, metrics)}
		d, err := alertdigest.New(kcfg, alertdigest.Config{Quiet: s.DigestQuiet, MaxWait: s.DigestMaxWait, Rule: s.Digest,
			DeferredTopic: schemas.TopicAlertsDeferred, Channels: ch.Configured(), Retry: cfg.RetryPolicy()},
			alertdigest.Deps{Dispatch: w.dispatch, Forwarder: deps.fwd, Recorder: deps.recorder}, log, reg)
		if err != nil {
			return nil, fmt.Errorf("alerts: %w", err)
		}
		w.sender, w.digester = alertdigest.NewPublisher(prod, schemas.TopicAlerts, nil, metrics), d
	}
	if !s.Rules.Enabled() {
		return w, nil
	}
	states, err := alertstate.NewStates(kcfg, alertstate.Config{Topic: schemas.TopicAlertState,
		Aligned: schemas.ProductAligned(cfg.RetryTiers)}, log, reg)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	opened.Push(states.Close)
	w.states, w.engine = states, pipeline.NewAlertEngine(s.Rules, states)
	log.Info("store alerts on", "inventory", s.Rules.Inventory, "price", s.Rules.Price, "staff_inbox", staff != nil, "webhook", hook != nil)
	return w, nil
}

// consumer adds the alert state's partition hooks to the processor
// consumer's: partition p of shopstream.alert.state is loaded before the
// product and retry workers of p start and dropped when p moves away; Run
// refuses an alert state topic with another partition count.
func (w *alertWiring) consumer(c consume.Config) consume.Config {
	if w.states == nil {
		return c
	}
	prev := c.OnAssigned
	c.OnAssigned = func(ctx context.Context, topic string, p int32) error {
		if prev != nil {
			if err := prev(ctx, topic, p); err != nil {
				return err
			}
		}
		return w.states.OnAssigned(ctx, topic, p)
	}
	c.OnRevoked = revokedHooks(c.OnRevoked, w.states.OnRevoked)
	c.CoPartitionedWith = append(c.CoPartitionedWith, schemas.TopicAlertState)
	return c
}
