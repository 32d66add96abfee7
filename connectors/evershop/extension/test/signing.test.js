import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { envelope } from '../src/lib/mapping.js';
import { sign, webhookHeaders } from '../src/lib/signing.js';

const here = dirname(fileURLToPath(import.meta.url));

// The vectors are the repository's testdata/signatures.json, the same file
// the Go signature tests read; a missing file fails the test.
function vectors() {
  const path = process.env.SHOPSTREAM_SIGNATURE_FIXTURES ||
    resolve(here, '../../../../testdata/signatures.json');
  return JSON.parse(readFileSync(path, 'utf8')).evershop;
}

test('signatures match the evershop vectors in testdata/signatures.json', () => {
  const { secret, cases } = vectors();
  let checked = 0;
  for (const c of cases) {
    const got = sign(secret, c.body);
    assert.match(got, /^[0-9a-f]{64}$/, 'lowercase hex');
    const expected = c.signature.replace(/^sha256=/, '').toLowerCase();
    if (c.valid) {
      assert.equal(got, expected, `vector ${c.note || c.body.slice(0, 40)}`);
    } else {
      assert.notEqual(got, expected, 'an invalid vector must not match');
    }
    checked++;
  }
  assert.ok(checked >= 1);
});

test('the exact bytes are signed (no re-serialization)', () => {
  const body = '{"event": "product.updated", "timestamp": "2025-10-28T12:00:00Z", "data": {"id": "7", "price": 10.0, "name": "Caf\\u00e9"}}';
  const reserialized = JSON.stringify(JSON.parse(body));
  assert.notEqual(sign('your-webhook-secret', body), sign('your-webhook-secret', reserialized));
  assert.equal(sign('your-webhook-secret', body), '8e85a4694524c5a400911b265d1d21e30c59a0e8db62749d8c94957317eae451');
  assert.equal(sign('s', Buffer.from('abc')), sign('s', 'abc'));
});

test('a replay with a fresh id header is still the same signed event', () => {
  // What shopstream keys on is inside the signed bytes; changing the header
  // changes neither the body nor its signature.
  const body = Buffer.from(envelope('order.created', '2026-11-20T09:15:02Z', { order_id: 7 }, 'evt-1'));
  const a = webhookHeaders('k', body, 'evt-1');
  const b = webhookHeaders('k', body, 'fresh-id');
  assert.equal(a['x-evershop-signature'], b['x-evershop-signature']);
  assert.equal(JSON.parse(body).webhook_id, 'evt-1');
});

test('headers carry signature and stable webhook id', () => {
  const body = Buffer.from('{"event":"order.updated"}');
  const h = webhookHeaders('k', body, 'evt-1');
  assert.equal(h['x-evershop-signature'], sign('k', body));
  assert.equal(h['x-evershop-webhook-id'], 'evt-1');
  assert.equal(h['content-type'], 'application/json');
  assert.throws(() => sign('', 'x'), /secret/);
});
