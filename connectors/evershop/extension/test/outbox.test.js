import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffMs, classify, parseRetryAfter, pickDeliverable } from '../src/lib/outbox.js';

const row = (id, entity, seq, due = 0) => ({ id, entity_key: entity, seq, next_attempt_at: due });

test('one head per entity, oldest first', () => {
  const rows = [row(3, 'order:1', 30), row(1, 'order:1', 10), row(2, 'product:5', 20), row(4, 'product:5', 40), row(5, 'customer:9', 5)];
  assert.deepEqual(pickDeliverable(rows, 100).map((r) => r.id), [5, 1, 2]);
});

test('a later row waits while an earlier one waits for its retry', () => {
  const rows = [row(1, 'order:1', 10, 5_000), row(2, 'order:1', 11, 0), row(3, 'order:2', 12, 0)];
  assert.deepEqual(pickDeliverable(rows, 1_000).map((r) => r.id), [3]);
  assert.deepEqual(pickDeliverable(rows, 5_000).map((r) => r.id), [1, 3]);
});

test('ordering follows the source sequence, not the insert order', () => {
  // EverShop ran two subscribers of one batch concurrently; the later event's row was inserted first.
  const rows = [row(8, 'order:1', 101), row(9, 'order:1', 100)];
  assert.deepEqual(pickDeliverable(rows, 0).map((r) => r.id), [9]);
  // equal seq: insert order decides; bigint-sized ids compare exactly
  const big = [row('9007199254740993', 'p:1', '9007199254740993'), row('9007199254740992', 'p:1', '9007199254740993')];
  assert.deepEqual(pickDeliverable(big, 0).map((r) => String(r.id)), ['9007199254740992']);
});

test('sent and failed rows do not block (they are not pending)', () => {
  // The sender only passes pending rows; after row 1 is marked failed, row 2 is the head.
  assert.deepEqual(pickDeliverable([row(2, 'order:1', 11)], 0).map((r) => r.id), [2]);
  assert.deepEqual(pickDeliverable([], 0), []);
});

test('limit and Date/ISO due times', () => {
  const rows = [row(1, 'a', 1, new Date(0)), row(2, 'b', 2, '1970-01-01T00:00:00Z'), row(3, 'c', 3, null)];
  assert.deepEqual(pickDeliverable(rows, 10, 2).map((r) => r.id), [1, 2]);
});

test('answers: 2xx sent, 4xx failed except 408/429, rest retried', () => {
  for (const s of [200, 201, 204]) assert.equal(classify(s), 'sent');
  for (const s of [400, 401, 403, 404, 413, 415, 422]) assert.equal(classify(s), 'failed');
  for (const s of [408, 429, 500, 502, 503, 504, 0, 301]) assert.equal(classify(s), 'retry');
});

test('backoff doubles, is jittered, capped, and honours Retry-After', () => {
  const lo = { random: () => 0 };
  const hi = { random: () => 1 };
  assert.equal(backoffMs(1, hi), 1000);
  assert.equal(backoffMs(2, hi), 2000);
  assert.equal(backoffMs(3, hi), 4000);
  assert.equal(backoffMs(3, lo), 2000);
  assert.equal(backoffMs(40, hi), 300000);
  assert.equal(backoffMs(1, { ...lo, retryAfterMs: 5000 }), 5000);
  assert.equal(backoffMs(1, { ...lo, retryAfterMs: 10 ** 9 }), 300000);
  assert.equal(parseRetryAfter('5'), 5000);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
  assert.equal(parseRetryAfter('soon'), 0);
  assert.equal(parseRetryAfter(null), 0);
});
