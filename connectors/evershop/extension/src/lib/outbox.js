// Pure outbox delivery rules: which rows may be sent now, what an answer
// means, how long to wait before the next try. The sender (sender.js) does
// the I/O around them.

/**
 * Rows that may be delivered now.
 *
 * `pending` are all undelivered rows (status 'pending'), in any order, each
 * {id, entity_key, seq, next_attempt_at}. Per entity only the earliest
 * pending row (by seq, then id) is eligible, and only once its
 * next_attempt_at has come: a later row for an entity is never sent while an
 * earlier one is unsent, even when the earlier one is waiting for its retry.
 * Rows already sent or marked failed are not in `pending`, so they do not block.
 *
 * @returns the eligible rows, oldest first, at most `limit`
 */
export function pickDeliverable(pending, now = Date.now(), limit = Infinity) {
  const heads = new Map();
  for (const row of pending) {
    const cur = heads.get(row.entity_key);
    if (!cur || compareRows(row, cur) < 0) heads.set(row.entity_key, row);
  }
  const due = [...heads.values()].filter((r) => toMs(r.next_attempt_at) <= now);
  due.sort(compareRows);
  return due.slice(0, limit);
}

export function compareRows(a, b) {
  const sa = BigInt(a.seq ?? 0);
  const sb = BigInt(b.seq ?? 0);
  if (sa !== sb) return sa < sb ? -1 : 1;
  const ia = BigInt(a.id);
  const ib = BigInt(b.id);
  return ia === ib ? 0 : ia < ib ? -1 : 1;
}

function toMs(t) {
  if (t === null || t === undefined) return 0;
  if (t instanceof Date) return t.getTime();
  if (typeof t === 'number') return t;
  return new Date(t).getTime();
}

/**
 * What an HTTP answer means for the row.
 *   2xx            → 'sent'
 *   408, 429       → 'retry' (timeout, rate limit)
 *   other 4xx      → 'failed' (shopstream refused it for good: keep the row, log)
 *   5xx, 0 (no answer: network error, timeout) and anything else → 'retry'
 */
export function classify(status) {
  if (status >= 200 && status < 300) return 'sent';
  if (status === 408 || status === 429) return 'retry';
  if (status >= 400 && status < 500) return 'failed';
  return 'retry';
}

/**
 * Delay before attempt number `attempt + 1`, after `attempt` failed tries
 * (attempt >= 1): exponential, base * 2^(attempt-1), capped, with "equal
 * jitter" (between half and all of it) so a fleet does not retry in step.
 * A Retry-After the server sent is honoured as a minimum.
 */
export function backoffMs(attempt, { baseMs = 1000, maxMs = 5 * 60 * 1000, retryAfterMs = 0, random = Math.random } = {}) {
  const n = Math.max(1, attempt);
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(n - 1, 30));
  const jittered = exp / 2 + random() * (exp / 2);
  return Math.round(Math.max(jittered, Math.min(retryAfterMs || 0, maxMs)));
}

/** Retry-After header (seconds or HTTP date) → milliseconds, 0 when absent or unreadable. */
export function parseRetryAfter(value, now = Date.now()) {
  if (!value) return 0;
  const s = String(value).trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? 0 : Math.max(0, t - now);
}
