// Drains the outbox: POST each pending row to shopstream, signed, in order
// per entity, with exponential backoff. Runs inside EverShop's event process
// (see bootstrap.js). A dedicated connection holds an advisory lock: one
// sender per database.
import { pool, connectionSetting } from '@evershop/evershop/lib/postgres';
import { error as logError, info as logInfo, warning as logWarning } from '@evershop/evershop/lib/log';
import pg from 'pg';
import { readConfig } from './config.js';
import { OUTBOX } from './outboxStore.js';
import { backoffMs, classify, parseRetryAfter, pickDeliverable } from './outbox.js';
import { webhookHeaders } from './signing.js';

const LOCK_KEY = 7315_2001; // pg_advisory_lock key of the sender
const SCAN_LIMIT = 1000;

export function startSender(cfg = readConfig()) {
  let stopped = false;
  let wake = null;
  let lockClient = null;
  const sleep = (ms) => new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    wake = () => { clearTimeout(t); resolve(); };
  });

  if (!cfg.url || !cfg.secret) {
    logWarning('shopstream-webhooks: SHOPSTREAM_URL or EVERSHOP_WEBHOOK_SECRET is not set; events are kept in the outbox and sent once both are set');
    return { stop() {} };
  }

  async function acquireLock() {
    if (lockClient) return true;
    const c = new pg.Client(connectionSetting);
    c.on('error', () => { lockClient = null; });
    await c.connect();
    const { rows } = await c.query('SELECT pg_try_advisory_lock($1) AS ok', [LOCK_KEY]);
    if (!rows[0].ok) {
      await c.end().catch(() => {});
      return false;
    }
    await c.query('LISTEN shopstream_outbox');
    c.on('notification', () => wake && wake());
    lockClient = c;
    logInfo(`shopstream-webhooks: sending to ${cfg.url}`);
    return true;
  }

  async function deliver(row) {
    const body = Buffer.from(row.body, 'utf8');
    const url = `${cfg.url}/api/webhooks/evershop/${row.kind}`;
    let status = 0;
    let retryAfter = 0;
    let errText = null;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: webhookHeaders(cfg.secret, body, row.webhook_id),
        body,
        signal: AbortSignal.timeout(cfg.timeoutMs)
      });
      status = res.status;
      retryAfter = parseRetryAfter(res.headers.get('retry-after'));
      const text = await res.text().catch(() => '');
      if (status < 200 || status >= 300) errText = text.slice(0, 500);
    } catch (e) {
      errText = String(e?.cause?.message || e?.message || e).slice(0, 500);
    }
    const verdict = classify(status);
    const attempts = row.attempts + 1;
    if (verdict === 'sent') {
      await pool.query(
        `UPDATE ${OUTBOX} SET status = 'sent', attempts = $2, last_http_status = $3, last_error = NULL, sent_at = now() WHERE id = $1`,
        [row.id, attempts, status]
      );
    } else if (verdict === 'failed') {
      await pool.query(
        `UPDATE ${OUTBOX} SET status = 'failed', attempts = $2, last_http_status = $3, last_error = $4 WHERE id = $1`,
        [row.id, attempts, status, errText]
      );
      logError(`shopstream-webhooks: ${row.event} ${row.webhook_id} refused by shopstream with ${status}, kept as failed: ${errText}`);
    } else {
      const delay = backoffMs(attempts, { baseMs: cfg.baseBackoffMs, maxMs: cfg.maxBackoffMs, retryAfterMs: retryAfter });
      await pool.query(
        `UPDATE ${OUTBOX} SET attempts = $2, last_http_status = $3, last_error = $4,
                next_attempt_at = now() + ($5::text || ' milliseconds')::interval WHERE id = $1`,
        [row.id, attempts, status || null, errText, String(delay)]
      );
      logWarning(`shopstream-webhooks: ${row.event} ${row.webhook_id} attempt ${attempts} failed (${status || errText}); retry in ${delay} ms`);
    }
    return verdict;
  }

  async function tick() {
    // Every pending row takes part in the per-entity ordering (a row waiting
    // for its retry still blocks later ones); rows younger than settleMs are
    // left for the next tick, so that subscribers of one EverShop batch,
    // which run concurrently, have all written theirs.
    const { rows } = await pool.query(
      `SELECT id, webhook_id, seq, kind, event, entity_key, body, attempts, next_attempt_at,
              (created_at <= now() - ($2::text || ' milliseconds')::interval) AS settled,
              (extract(epoch from now()) * 1000)::bigint AS now_ms
         FROM ${OUTBOX} WHERE status = 'pending' ORDER BY seq, id LIMIT $1`,
      [SCAN_LIMIT, String(cfg.settleMs)]
    );
    if (rows.length === 0) return 0;
    const nowMs = Number(rows[0].now_ms);
    const eligible = pickDeliverable(rows, nowMs).filter((r) => r.settled);
    let sent = 0;
    // Distinct entities in parallel, bounded; one entity's rows stay serial
    // because only its head is ever eligible.
    for (let i = 0; i < eligible.length; i += cfg.concurrency) {
      const verdicts = await Promise.all(eligible.slice(i, i + cfg.concurrency).map(deliver));
      sent += verdicts.filter((v) => v !== 'retry').length;
    }
    return sent;
  }

  async function prune() {
    await pool.query(
      `DELETE FROM ${OUTBOX} WHERE status = 'sent' AND sent_at < now() - ($1::text || ' days')::interval`,
      [String(cfg.retentionDays)]
    );
  }

  (async () => {
    let lastPrune = 0;
    while (!stopped) {
      let progressed = 0;
      try {
        if (await acquireLock()) {
          progressed = await tick();
          if (Date.now() - lastPrune > 3600_000) {
            lastPrune = Date.now();
            await prune();
          }
        }
      } catch (e) {
        logError(`shopstream-webhooks: sender: ${e?.message || e}`);
      }
      if (!progressed) await sleep(lockClient ? cfg.pollMs : Math.max(cfg.pollMs, 5000));
    }
  })();

  return {
    stop() {
      stopped = true;
      if (wake) wake();
      if (lockClient) lockClient.end().catch(() => {});
    }
  };
}
