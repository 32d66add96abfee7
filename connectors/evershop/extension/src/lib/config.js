// Settings, read from the environment of the EverShop processes.
export function readConfig(env = process.env) {
  const int = (name, def) => {
    const v = parseInt(env[name] ?? '', 10);
    return Number.isFinite(v) && v >= 0 ? v : def;
  };
  return {
    url: (env.SHOPSTREAM_URL || '').replace(/\/+$/, ''),
    secret: env.EVERSHOP_WEBHOOK_SECRET || '',
    timeoutMs: int('SHOPSTREAM_WEBHOOK_TIMEOUT_MS', 10000),
    pollMs: int('SHOPSTREAM_WEBHOOK_POLL_MS', 500),
    settleMs: int('SHOPSTREAM_WEBHOOK_SETTLE_MS', 300),
    baseBackoffMs: int('SHOPSTREAM_WEBHOOK_BACKOFF_MS', 1000),
    maxBackoffMs: int('SHOPSTREAM_WEBHOOK_MAX_BACKOFF_MS', 300000),
    retentionDays: int('SHOPSTREAM_WEBHOOK_RETENTION_DAYS', 7),
    concurrency: Math.max(1, int('SHOPSTREAM_WEBHOOK_CONCURRENCY', 4))
  };
}
