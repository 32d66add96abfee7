// Drives the e2e store through EverShop's own HTTP APIs, then checks what
// shopstream and the fakes saw. Node 20, no dependencies: fetch, kcat and
// psql (through deploy/e2e/postgres.sh) only.
//
// Environment: STORE_URL, ADMIN_EMAIL, ADMIN_PASSWORD, FAKES_URL,
// KAFKA_BROKERS, E2E_DIR, RUN_ID (makes SKUs and e-mails unique per run).
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const STORE = env('STORE_URL');
const FAKES = env('FAKES_URL');
const BROKERS = env('KAFKA_BROKERS');
const E2E_DIR = env('E2E_DIR');
const RUN = env('RUN_ID');
const t0 = Date.now();
const log = (...a) => console.error(`[drive +${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let token = null;
async function api(method, path, body, { auth = true, ok = true } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (auth) headers.authorization = `Bearer ${token}`;
  const res = await fetch(STORE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not json */ }
  if (ok && (!res.ok || json?.error)) throw new Error(`${method} ${path} → ${res.status} ${text.slice(0, 400)}`);
  return json?.data ?? json;
}

function sql(query) {
  return execFileSync(`${E2E_DIR}/postgres.sh`, ['psql', '-F', '\t', '-c', query], { encoding: 'utf8' })
    .split('\n').filter(Boolean).map((l) => l.split('\t'));
}

async function until(what, fn, timeoutMs = 60000, everyMs = 500) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${last?.message ?? JSON.stringify(last)?.slice(0, 300)}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------- drive
token = (await api('POST', '/api/user/tokens', { email: env('ADMIN_EMAIL'), password: env('ADMIN_PASSWORD') }, { auth: false })).accessToken;
log('admin token ok');

// Shipping: a zone for the US with the core provider and one flat rate.
const zone = await api('POST', '/api/shippingZones', { name: `US ${RUN}`, country: 'US' });
await api('POST', `/api/shippingZones/${zone.uuid}/providers`, { provider_code: 'core', is_enabled: true }, { ok: false });
const method = await api('POST', '/api/shippingProviders/core/methods', { name: `Flat ${RUN}`, is_enabled: true });
await api('POST', '/api/shippingProviders/core/rates', { method_id: method.uuid, zone_id: zone.uuid, is_enabled: true, cost: 5 });

const products = [
  { key: 'mug', name: `Shopstream Mug ${RUN}`, sku: `MUG-${RUN}`, price: 12.5, qty: 50 },
  { key: 'tee', name: `Shopstream Tee ${RUN}`, sku: `TEE-${RUN}`, price: 24.9, qty: 20 },
  { key: 'poster', name: `Shopstream Poster ${RUN}`, sku: `POSTER-${RUN}`, price: 8, qty: 5 }
];
for (const p of products) {
  const r = await api('POST', '/api/products', {
    name: p.name, url_key: `${p.key}-${RUN}`.toLowerCase(), sku: p.sku, price: p.price, qty: p.qty, status: 1,
    visibility: 1, group_id: 1, package_id: 1, weight: 0.5, manage_stock: 1, stock_availability: 1
  });
  p.id = r.product_id; p.uuid = r.uuid;
  log(`product created: ${p.sku} id ${p.id}`);
}
const [mug, tee, poster] = products;
tee.name = `Shopstream Tee ${RUN} (organic)`; tee.price = 19.9; tee.qty = 15;
await api('PATCH', `/api/products/${tee.uuid}`, { name: tee.name, price: tee.price, qty: tee.qty });
log(`product updated: ${tee.sku}`);
await api('DELETE', `/api/products/${poster.uuid}`);
log(`product deleted: ${poster.sku}`);

const email = `ana.${RUN}@example.com`.toLowerCase();
const customer = await api('POST', '/api/customers', { full_name: 'Ana Lima', email, password: 'Secret-pass-123' }, { auth: false });
log(`customer registered: ${email} id ${customer.customer_id}`);

const cart = await api('POST', '/api/carts', { customer_email: email, customer_full_name: 'Ana Lima', items: [{ sku: mug.sku, qty: 2 }] }, { auth: false });
const cartId = cart.cartId;
await api('POST', `/api/carts/${cartId}/contacts`, { email }, { auth: false });
const address = { full_name: 'Ana Lima', telephone: '5551234', address_1: '1 Main St', city: 'Springfield', province: 'US-CA', country: 'US', postcode: '90001' };
for (const type of ['shipping', 'billing']) await api('POST', `/api/carts/${cartId}/addresses`, { type, address }, { auth: false });
await api('POST', `/api/carts/${cartId}/shippingMethods`, { provider_code: 'core', method_code: method.uuid }, { auth: false });
await api('POST', `/api/carts/${cartId}/paymentMethods`, { method_code: 'cod' }, { auth: false });
const order = await api('POST', `/api/carts/${cartId}/checkout`, { cart_id: cartId, customer: { email, fullName: 'Ana Lima' } }, { auth: false });
mug.qty -= 2;
log(`order placed: #${order.order_number} id ${order.order_id} status ${order.status}/${order.payment_status}/${order.shipment_status}`);

// Payment captured (COD), then one shipment for everything, then delivered.
await api('POST', '/api/cod/captures', { order_id: order.uuid });
log('payment captured');
const items = (await api('GET', `/api/orders/${order.uuid}/shipments`, undefined, { ok: false })) ?? {};
const orderItems = sql(`SELECT order_item_id, qty FROM order_item WHERE order_item_order_id = ${order.order_id}`);
const shipment = await api('POST', `/api/orders/${order.uuid}/shipments`, {
  carrier: 'custom', tracking_number: `TRK${RUN}`, items: orderItems.map(([id, qty]) => ({ order_item_id: Number(id), qty: Number(qty) }))
});
const shipmentUuid = shipment?.uuid ?? shipment?.shipment?.uuid ?? sql(`SELECT uuid FROM shipment WHERE shipment_order_id = ${order.order_id}`)[0][0];
log(`shipment created ${shipmentUuid}`, items ? '' : '');
await api('POST', `/api/shipments/${shipmentUuid}/markDelivered`, {});
log('shipment delivered');
const final = sql(`SELECT status, payment_status, shipment_status FROM "order" WHERE order_id = ${order.order_id}`)[0];
log(`order now ${final.join('/')}`);

// ---------------------------------------------------------------- outbox drained
// Drained = EverShop has no event left to hand to subscribers, and the
// outbox has nothing pending, twice in a row a second apart.
let quiet = 0;
const outbox = await until('the outbox to drain', () => {
  const events = Number(sql(`SELECT count(*) FROM "event" WHERE status IN ('pending', 'processing')`)[0][0]);
  const rows = sql(`SELECT id, webhook_id, event, entity_key, status, attempts, COALESCE(last_http_status, 0), body FROM shopstream_webhook_outbox ORDER BY seq, id`);
  const pending = rows.filter((r) => r[4] === 'pending');
  quiet = events === 0 && pending.length === 0 && rows.length > 0 ? quiet + 1 : 0;
  return quiet >= 2 ? rows : false;
}, 120000, 1000);
const failed = outbox.filter((r) => r[4] !== 'sent');
assert.deepEqual(failed.map((r) => `${r[2]} ${r[1]} ${r[4]} ${r[6]}`), [], 'every outbox row was accepted by shopstream');
const rows = outbox.map(([id, webhookId, event, entityKey, status, attempts, http, body]) => ({ id, webhookId, event, entityKey, status, attempts: Number(attempts), http: Number(http), body: JSON.parse(body) }));
const count = (ev, key) => rows.filter((r) => r.event === ev && (!key || r.entityKey === key)).length;
log(`outbox: ${rows.length} rows, all sent; attempts total ${rows.reduce((a, r) => a + r.attempts, 0)}`);
for (const p of products) assert.equal(count('product.created', `product:${p.id}`), 1, `one product.created for ${p.sku}`);
assert.ok(count('product.updated', `product:${tee.id}`) >= 1, 'product.updated for the updated product');
assert.equal(count('product.deleted', `product:${poster.id}`), 1, 'one product.deleted');
assert.equal(count('customer.created', `customer:${customer.customer_id}`), 1, 'one customer.created');
assert.equal(count('order.created', `order:${order.order_id}`), 1, 'one order.created');
const orderUpdates = rows.filter((r) => r.event === 'order.updated' && r.entityKey === `order:${order.order_id}`).map((r) => r.body.data);
assert.ok(orderUpdates.length >= 2, 'order status and shipment changes became order.updated');
for (const d of orderUpdates) {
  assert.equal(d.order_number, String(order.order_number));
  assert.equal(d.customer_email, email);
  assert.ok(d.status && d.previous_status && d.shipment_status && d.previous_shipment_status, `transition fields filled: ${JSON.stringify(d)}`);
}
const customerRow = rows.find((r) => r.event === 'customer.created').body;
assert.equal(customerRow.data.email, email);
assert.doesNotMatch(JSON.stringify(customerRow), /password/i, 'no password (hash) in the customer webhook');
log('order.updated transitions: ' + orderUpdates.map((d) => `${d.previous_status}→${d.status} / ${d.previous_shipment_status}→${d.shipment_status}`).join(', '));

// ---------------------------------------------------------------- Kafka: every webhook exactly once
const ids = new Map(rows.map((r) => [r.webhookId, r]));
const seen = new Map();
for (const topic of ['evershop.product', 'evershop.order', 'evershop.customer']) {
  const out = execFileSync('kcat', ['-b', BROKERS, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%k\t%h\n'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  for (const line of out.split('\n')) {
    const m = /shopstream-event-id=([^,\s]+)/.exec(line);
    if (m && ids.has(m[1])) seen.set(m[1], [...(seen.get(m[1]) ?? []), topic]);
  }
}
const lost = [...ids.keys()].filter((id) => !seen.has(id));
const dup = [...seen.entries()].filter(([, t]) => t.length !== 1);
assert.deepEqual(lost.map((id) => `${ids.get(id).event} ${id}`), [], 'no webhook lost between the store and Kafka');
assert.deepEqual(dup.map(([id, t]) => `${id} ×${t.length}`), [], 'no webhook duplicated in Kafka');
for (const [id, [topic]] of seen) assert.equal(topic, `evershop.${ids.get(id).entityKey.split(':')[0]}`, `${id} on its entity's topic`);
log(`kafka: ${seen.size}/${ids.size} webhooks exactly once on evershop.{product,order,customer}`);

// ---------------------------------------------------------------- knowledge base: the real catalog
const failures = [];
const dumpJSON = async () => (await fetch(`${FAKES}/dump`)).json();
let catalog = { doc: { name: null } };
try {
catalog = await until('the knowledge base to hold the final catalog', async () => {
  const d = await dumpJSON();
  const docs = (d.coze.documents ?? []).filter((doc) => doc.status === 1);
  const doc = docs[docs.length - 1];
  if (!doc) return false;
  const c = doc.content;
  const okMug = c.includes(mug.name) && c.includes(mug.sku);
  const okTee = c.includes(tee.name) && c.includes(tee.sku);
  return okMug && okTee && !c.includes(poster.sku) ? { doc, d } : false;
}, 90000, 1000);
const lines = catalog.doc.content.split('\n');
const lineOf = (sku) => lines.find((l) => l.includes(sku)) ?? '';
for (const p of [mug, tee]) {
  const l = lineOf(p.sku);
  assert.ok(l.includes(p.name), `${p.sku} named ${p.name}: ${l}`);
  assert.match(l, new RegExp(`\\b${p.price.toFixed(2).replace('.', '\\.')}|\\b${String(p.price).replace('.', '\\.')}\\b`), `${p.sku} price ${p.price}: ${l}`);
  assert.match(l, new RegExp(`\\b${p.qty}\\b`), `${p.sku} stock ${p.qty}: ${l}`);
}
assert.ok(!catalog.doc.content.includes(poster.sku), 'the deleted product is not in the catalog');
assert.deepEqual(catalog.d.coze.violations ?? [], [], 'no Coze contract violation');
log(`knowledge base: document ${catalog.doc.name} (${lines.length} lines, ${catalog.d.coze.uploads} uploads) has mug/tee with real name, price, stock; poster gone`);

} catch (e) { failures.push(`knowledge base: ${e.message}`); log(`FAILED knowledge base: ${e.message}`); }

// ---------------------------------------------------------------- customer messages
const expected = orderUpdates.map((d) => notified(d)).filter(Boolean);
try {
const got = await until('one message per status change', async () => {
  const d = await dumpJSON();
  const msgs = (d.inbox.messages ?? []).filter((m) => m.email === email);
  return msgs.length >= expected.length ? { msgs, d } : false;
}, 60000, 1000);
await sleep(3000); // anything extra would arrive now
const final2 = (await dumpJSON()).inbox;
const msgs = (final2.messages ?? []).filter((m) => m.email === email);
assert.equal(msgs.length, expected.length, `one message per status change: expected ${expected.join(',')}, got ${msgs.map((m) => m.content).join(' | ')}`);
const phrase = { processing: 'being prepared', shipped: 'on its way', delivered: 'has been delivered', completed: 'is complete', partially_shipped: 'Part of your', canceled: 'canceled', closed: 'closed' };
expected.forEach((st, i) => assert.ok(msgs[i].content.includes(phrase[st] ?? st.replace(/_/g, ' ')), `message ${i + 1} is about ${st}: ${msgs[i].content}`));
assert.ok(msgs.every((m) => m.content.includes(String(order.order_number))), 'messages name the order number');
assert.deepEqual(final2.violations ?? [], [], 'no inbox contract violation');
log(`inbox: ${msgs.length} messages to ${email}, in order: ${expected.join(' → ')}`);
void got;

} catch (e) { failures.push(`inbox: ${e.message}`); log(`FAILED inbox: ${e.message}`); }

if (failures.length) { console.log(JSON.stringify({ ok: false, failures })); process.exit(1); }
console.log(JSON.stringify({ ok: true, outbox_rows: rows.length, kafka_records: seen.size, messages: expected, catalog_document: catalog.doc.name, seconds: (Date.now() - t0) / 1000 }));

// What shopstream announces for an order.updated (pipeline/messages.go):
// a cancellation wins, then a shipment change, then the order status; "new"
// and "pending" are silent.
function notified(d) {
  const key = (s) => String(s ?? '').toLowerCase().replace(/cancelled/g, 'canceled');
  const changed = (cur, prev) => { cur = key(cur); prev = key(prev); return !cur || cur === prev || cur === 'new' || cur === 'pending' ? '' : cur; };
  const o = changed(d.status, d.previous_status);
  const s = changed(d.shipment_status, d.previous_shipment_status);
  if (o === 'canceled' || s === 'canceled') return 'canceled';
  return s || o;
}
