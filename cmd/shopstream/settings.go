package main

// setting is one configuration key: its koanf path (the YAML file's nested
// keys), the environment name operators use (docs/contract.md's names),
// the default and what it means. The README's configuration table is this
// list.
type setting struct {
	Key, Env, Default, Doc string
}

var settings = []setting{
	{"webhook.secret", "EVERSHOP_WEBHOOK_SECRET", "", "Webhook secret(s), comma-separated for rotation; `whsec_<base64>` for Standard Webhooks keys. Required (dev: generated and printed)."},
	{"env", "SHOPSTREAM_ENV", "production", "`development` enables `POST /api/webhooks/test`."},
	{"log.level", "SHOPSTREAM_LOG_LEVEL", "info", "debug, info, warn or error. Client-library (franz-go) lines are kept at warn unless debug."},
	{"log.format", "SHOPSTREAM_LOG_FORMAT", "auto", "`auto` (text on a terminal, JSON otherwise), `text` or `json`."},
	{"http.addr", "SHOPSTREAM_HTTP_ADDR", ":8080", "Webhook listener (dev: 127.0.0.1:8080)."},
	{"http.max_body_bytes", "SHOPSTREAM_MAX_BODY_BYTES", "1048576", "Larger bodies get 413."},
	{"http.retry_after", "SHOPSTREAM_RETRY_AFTER", "5s", "Retry-After sent with 503."},
	{"admin.addr", "SHOPSTREAM_ADMIN_ADDR", ":9102", "Admin listener: /healthz, /readyz, /metrics (dev: 127.0.0.1:9102)."},
	{"kafka.brokers", "SHOPSTREAM_KAFKA_BROKERS", "", "Seed brokers, comma-separated. Required except in dev (empty = embedded broker)."},
	{"kafka.publish_timeout", "SHOPSTREAM_PUBLISH_TIMEOUT", "5s", "How long the ingress waits for the broker's ack before answering 503."},
	{"kafka.partitions", "SHOPSTREAM_KAFKA_PARTITIONS", "6", "Partitions of the source, retry, DLQ and events topics (`shopstream topics`)."},
	{"kafka.replication", "SHOPSTREAM_KAFKA_REPLICATION", "1", "Replication factor of every topic; 3 in production."},
	{"kafka.min_insync_replicas", "SHOPSTREAM_KAFKA_MIN_ISR", "1", "min.insync.replicas of every topic; 2 in production with replication 3."},
	{"kafka.dlq_retention", "SHOPSTREAM_DLQ_RETENTION", "2160h", "How long dead letters are kept (90 days)."},
	{"retry.tiers", "SHOPSTREAM_RETRY_TIERS", "2s,4s,8s", "Retry tier delays, one topic each."},
	{"retry.max_age", "SHOPSTREAM_RETRY_MAX_AGE", "24h", "Transient failures retry (cycling on the last tier) until an event is this old, then dead-letter."},
	{"retry.after_max", "SHOPSTREAM_RETRY_AFTER_MAX", "5m", "Clamp on a downstream's Retry-After (tier delays and breaker holds)."},
	{"catalog.quiet", "SHOPSTREAM_CATALOG_QUIET", "2s", "Catalog sync runs this long after the last product event..."},
	{"catalog.max_wait", "SHOPSTREAM_CATALOG_MAX_WAIT", "30s", "...and never later than this after the first."},
	{"catalog.auto_sync", "WEBHOOK_AUTO_SYNC_PRODUCTS", "true", "Turn catalog sync off with false."},
	{"evershop.api_url", "EVERSHOP_API_URL", "", "EverShop base URL; empty = catalog from product events."},
	{"evershop.admin_email", "EVERSHOP_ADMIN_EMAIL", "", "EverShop admin login."},
	{"evershop.admin_password", "EVERSHOP_ADMIN_PASSWORD", "", "EverShop admin password."},
	{"coze.api_url", "COZE_API_URL", "https://api.coze.com", "Coze API base URL."},
	{"coze.api_token", "COZE_API_TOKEN", "", "Coze token; empty = catalog written to a local file."},
	{"coze.dataset_id", "COZE_DATASET_ID", "", "Knowledge base (dataset) id."},
	{"coze.file_type", "COZE_FILE_TYPE", "txt", "`txt` (documented for hosted Coze) or `csv` (table knowledge bases)."},
	{"inbox.api_url", "INBOX_API_URL", "", "Support inbox base URL; empty = notifications written to a local file."},
	{"inbox.api_token", "INBOX_API_TOKEN", "", "Support inbox bearer token."},
	{"inbox.tenant", "INBOX_TENANT", "default", "Support inbox tenant."},
	{"notify.order_confirmation", "WEBHOOK_SEND_ORDER_CONFIRMATION", "false", "Send a confirmation on order.created."},
	{"notify.welcome", "WEBHOOK_SEND_WELCOME_MESSAGE", "false", "Send a welcome on customer.created."},
	{"clickhouse.dsn", "CLICKHOUSE_DSN", "", "Analytics store, e.g. clickhouse://127.0.0.1:9000/default."},
	{"console.addr", "SHOPSTREAM_CONSOLE_ADDR", ":9103", "Operations console listener (dev: 127.0.0.1:9103)."},
	{"console.token", "SHOPSTREAM_CONSOLE_TOKEN", "", "Console access token (16+ characters; also `Authorization: Bearer`). Required by `console` unless a user and password are set; dev allows no login."},
	{"console.user", "SHOPSTREAM_CONSOLE_USER", "", "Console user (with console.password) instead of a token."},
	{"console.password", "SHOPSTREAM_CONSOLE_PASSWORD", "", "Console password."},
	{"console.session_key", "SHOPSTREAM_CONSOLE_SESSION_KEY", "", "Signs console session cookies and CSRF tokens (32+ characters, the same on every console replica; changing it logs everybody out). Required by `console`; dev uses a random one when unset."},
	{"console.metrics_urls", "SHOPSTREAM_CONSOLE_METRICS_URLS", "", "The processors' /metrics URLs, comma-separated, for held events on the overview (dev: its own)."},
	{"console.secure_cookies", "SHOPSTREAM_CONSOLE_SECURE_COOKIES", "auto", "Mark console cookies Secure (sent over HTTPS only; set it behind a TLS-terminating proxy): `auto` is true outside development, false in dev, where cookies are Secure only on TLS requests."},
	{"dev.data_dir", "SHOPSTREAM_DATA_DIR", "./var", "dev: where the embedded broker and local targets keep their files."},
	{"dev.kafka_addr", "SHOPSTREAM_DEV_KAFKA_ADDR", "127.0.0.1:19092", "dev: where the embedded broker listens (for kcat)."},
}

// devDefaults replace the defaults for `shopstream dev`: it serves the
// unsigned /api/webhooks/test endpoint, so it listens on loopback only
// unless an address is set explicitly.
var devDefaults = map[string]string{
	"http.addr":    "127.0.0.1:8080",
	"admin.addr":   "127.0.0.1:9102",
	"console.addr": "127.0.0.1:9103",
}
