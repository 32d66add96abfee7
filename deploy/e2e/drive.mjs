// Drives the e2e store through EverShop's own HTTP APIs, then checks what
// shopstream and the fakes saw. Node 20, no dependencies: fetch, kcat and
// psql (through deploy/e2e/postgres.sh) only.
//
// Environment: STORE_URL, ADMIN_EMAIL, ADMIN_PASSWORD, FAKES_URL,
// KAFKA_BROKERS, E2E_DIR, RUN_ID (makes SKUs and e-mails unique per run),
// ALERT_STAFF_EMAIL, ALERT_LOW_STOCK, ALERT_PRICE_PERCENT, ALERT_DIGEST_MIN,
// ALERT_DIGEST_MAX_WAIT (what `shopstream process` runs with, see lib.sh).
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const STORE = env('STORE_URL');
const FAKES = env('FAKES_URL');
const BROKERS = env('KAFKA_BROKERS');
const E2E_DIR = env('E2E_DIR');
const RUN = env('RUN_ID');
const ALERT_EMAIL = env('ALERT_STAFF_EMAIL');
const LOW_STOCK = Number(env('ALERT_LOW_STOCK'));
const PRICE_PERCENT = Number(env('ALERT_PRICE_PERCENT'));
const DIGEST_MIN = Number(env('ALERT_DIGEST_MIN'));
const DIGEST_MAX_WAIT_S = Number(env('ALERT_DIGEST_MAX_WAIT').replace(/s$/, ''));
const t0 = Date.now();
const log = (...a) => console.error(`[drive +${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let token = null;
async function api(method, path, body, { auth = true, ok = true } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (auth) headers.authorization = `Bearer ${token}`;
  let res = await fetch(STORE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  // EverShop limits /api/** to 120 requests a minute per client IP: wait as
  // told and go on (the run makes about 80; this is the safety net).
  for (let i = 0; res.status === 429 && i < 2; i++) {
    const wait = Number(res.headers.get('retry-after') ?? 60);
    log(`${method} ${path}: 429 from the store, waiting ${wait} s as its Retry-After says`);
    await res.text();
    await sleep(wait * 1000);
    res = await fetch(STORE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  }
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

// ---------------------------------------------------------------- signals
// Settled = the store has nothing left to send (no EverShop event pending,
// no outbox row pending), then the processor group has committed every
// record of the source and retry topics (a product event is committed only
// after the alerts it fired are on shopstream.alerts, a customer message
// only after the inbox took it), then the alerts' owner has committed every
// alert (only once the channels took it). Measured in that order, so what
// the fakes hold afterwards is final: exact counts need no sleep.
const lag = async (group, topics, prefixes = []) => {
  const q = new URLSearchParams([['group', group], ...topics.map((t) => ['topic', t]), ...prefixes.map((p) => ['prefix', p])]);
  const res = await fetch(`${FAKES}/lag?${q}`);
  if (!res.ok) throw new Error(`lag of ${group}: ${res.status} ${await res.text()}`);
  return Object.values(await res.json()).reduce((a, n) => a + n, 0);
};
async function settled(what, timeoutMs = 120000) {
  await until(`${what}: the store's outbox drained`, () => {
    const events = Number(sql(`SELECT count(*) FROM "event" WHERE status IN ('pending', 'processing')`)[0][0]);
    const pending = Number(sql(`SELECT count(*) FROM shopstream_webhook_outbox WHERE status = 'pending'`)[0][0]);
    return events === 0 && pending === 0;
  }, timeoutMs, 250);
  await until(`${what}: the processor caught up`, async () => (await lag('shopstream-processor', ['evershop.product', 'evershop.order', 'evershop.customer'], ['evershop.retry.'])) === 0, timeoutMs, 250);
  // shopstream.alerts and what else the owner reads (shopstream.alerts.deferred);
  // not shopstream.alert.state, which no group commits.
  await until(`${what}: the alerts' owner caught up`, async () => (await lag('shopstream-alerts', [], ['shopstream.alerts'])) === 0, timeoutMs, 250);
  // A failed alert send goes back through the processor's retry tiers.
  await until(`${what}: the processor still caught up`, async () => (await lag('shopstream-processor', ['evershop.product', 'evershop.order', 'evershop.customer'], ['evershop.retry.'])) === 0, timeoutMs, 250);
}

// Every record's value on topic, parsed as JSON (kcat, from the beginning).
function topicJSON(topic) {
  const out = execFileSync('kcat', ['-b', BROKERS, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%T\t%s\n'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return out.split('\n').filter(Boolean).map((l) => { const i = l.indexOf('\t'); return { ts: Number(l.slice(0, i)), value: JSON.parse(l.slice(i + 1)) }; });
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
  { key: 'poster', name: `Shopstream Poster ${RUN}`, sku: `POSTER-${RUN}`, price: 8, qty: 5 },
  // Store alerts: the lamp's stock is lowered below the threshold by hand,
  // the cap's last unit is sold by the checkout below.
  { key: 'lamp', name: `Shopstream Lamp ${RUN}`, sku: `LAMP-${RUN}`, price: 30, qty: 12 },
  { key: 'cap', name: `Shopstream Cap ${RUN}`, sku: `CAP-${RUN}`, price: 15, qty: 1 }
];
for (const p of products) {
  const r = await api('POST', '/api/products', {
    name: p.name, url_key: `${p.key}-${RUN}`.toLowerCase(), sku: p.sku, price: p.price, qty: p.qty, status: 1,
    visibility: 1, group_id: 1, package_id: 1, weight: 0.5, manage_stock: 1, stock_availability: 1
  });
  p.id = r.product_id; p.uuid = r.uuid;
  log(`product created: ${p.sku} id ${p.id}`);
}
const [mug, tee, poster, lamp, cap] = products;
// The extension reads a product's stock when it handles product_created
// (the event row has no qty), so each product's created webhook must be
// recorded before its stock moves; otherwise the first state shopstream
// sees is the lowered one, and a first state only seeds.
await until('product.created recorded for every product', () => {
  const keys = products.map((p) => `'product:${p.id}'`).join(',');
  return Number(sql(`SELECT count(*) FROM shopstream_webhook_outbox WHERE event = 'product.created' AND entity_key IN (${keys})`)[0][0]) === products.length;
}, 60000, 250);
tee.name = `Shopstream Tee ${RUN} (organic)`; tee.price = 19.9; tee.qty = 15;
await api('PATCH', `/api/products/${tee.uuid}`, { name: tee.name, price: tee.price, qty: tee.qty });
log(`product updated: ${tee.sku}`);
assert.ok(Math.abs(19.9 - 24.9) * 100 >= PRICE_PERCENT * 24.9, 'the tee price change crosses the alert percentage');
assert.ok(lamp.qty > LOW_STOCK && 3 <= LOW_STOCK && 3 > 0, 'the lamp crosses the low-stock threshold');
await api('PATCH', `/api/products/${lamp.uuid}`, { qty: 3 });
lamp.oldQty = lamp.qty; lamp.qty = 3;
log(`stock lowered: ${lamp.sku} ${lamp.oldQty} → ${lamp.qty} (threshold ${LOW_STOCK})`);
await api('DELETE', `/api/products/${poster.uuid}`);
log(`product deleted: ${poster.sku}`);

const email = `ana.${RUN}@example.com`.toLowerCase();
const customer = await api('POST', '/api/customers', { full_name: 'Ana Lima', email, password: 'Secret-pass-123' }, { auth: false });
log(`customer registered: ${email} id ${customer.customer_id}`);

const cart = await api('POST', '/api/carts', { customer_email: email, customer_full_name: 'Ana Lima', items: [{ sku: mug.sku, qty: 2 }, { sku: cap.sku, qty: 1 }] }, { auth: false });
const cartId = cart.cartId;
await api('POST', `/api/carts/${cartId}/contacts`, { email }, { auth: false });
const address = { full_name: 'Ana Lima', telephone: '5551234', address_1: '1 Main St', city: 'Springfield', province: 'US-CA', country: 'US', postcode: '90001' };
for (const type of ['shipping', 'billing']) await api('POST', `/api/carts/${cartId}/addresses`, { type, address }, { auth: false });
await api('POST', `/api/carts/${cartId}/shippingMethods`, { provider_code: 'core', method_code: method.uuid }, { auth: false });
await api('POST', `/api/carts/${cartId}/paymentMethods`, { method_code: 'cod' }, { auth: false });
const order = await api('POST', `/api/carts/${cartId}/checkout`, { cart_id: cartId, customer: { email, fullName: 'Ana Lima' } }, { auth: false });
mug.qty -= 2; cap.qty -= 1;
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
await settled('customer messages'); // anything extra has arrived by now
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

// ---------------------------------------------------------------- store alerts
// What the alert fakes hold: the signed webhook's posts and the staff
// conversation's messages, plus the alert outcome rows on evershop.events
// (what the sink writes to ClickHouse) and the alerts on shopstream.alerts.
const alertView = async () => {
  const d = await dumpJSON();
  const posts = d.alerts.posts ?? [];
  const staff = (d.inbox.messages ?? []).filter((m) => m.email === ALERT_EMAIL);
  return { d, posts, staff };
};
const alertOutcomes = () => {
  const byId = new Map();
  for (const { value: o } of topicJSON('evershop.events')) {
    // alert.<trigger> rows are raised alerts; alert.delivery rows are channel attempts.
    if (String(o.event_type).startsWith('alert.') && o.event_type !== 'alert.delivery' && o.status === 'completed') byId.set(o.event_id, o);
  }
  return [...byId.values()];
};
const alertRecords = () => {
  const byId = new Map();
  for (const { ts, value: a } of topicJSON('shopstream.alerts')) if (!byId.has(a.id)) byId.set(a.id, { ...a, ts });
  return [...byId.values()];
};
const num = (v) => Number(v);
// A price as shopstream writes it (canonical decimal, "24.90", "10.00").
const priceRe = (p) => { const [i, f = ''] = String(p).split('.'); return f ? `${i}\\.${f}0*` : `${i}(?:\\.0+)?`; };
const summary = {};
try {
  // 1. The single crossings of the run above: the tee's price (24.9 → 19.9),
  // the lamp's stock lowered by hand (12 → 3), the cap's last unit sold (1 → 0).
  await settled('single alerts');
  const { d, posts, staff } = await alertView();
  assert.deepEqual(d.alerts.violations ?? [], [], 'every alert webhook post was signed (Standard Webhooks) and well formed');
  const expect = [
    { trigger: 'price_change', p: tee, old: 24.9, new: 19.9, text: new RegExp(`Price change: ${tee.name.replace(/[()]/g, '\\$&')} \\(SKU ${tee.sku}\\) — regular price ${priceRe(24.9)} → ${priceRe(19.9)} \\(-20\\.1%\\)`) },
    { trigger: 'low_stock', p: lamp, old: 12, new: 3, text: new RegExp(`Low stock: ${lamp.name} \\(SKU ${lamp.sku}\\) — 3 left \\(was 12\\)`) },
    { trigger: 'out_of_stock', p: cap, old: 1, new: 0, text: new RegExp(`Out of stock: ${cap.name} \\(SKU ${cap.sku}\\) — stock went from 1 to 0`) }
  ];
  assert.equal(posts.length, expect.length, `exactly ${expect.length} alert webhook posts: ${posts.map((p) => p.text).join(' | ')}`);
  assert.equal(staff.length, expect.length, `exactly ${expect.length} staff inbox messages: ${staff.map((m) => m.content).join(' | ')}`);
  const outcomes = alertOutcomes();
  const records = alertRecords();
  assert.equal(records.length, expect.length, `exactly ${expect.length} alerts raised on shopstream.alerts`);
  assert.equal(outcomes.length, expect.length, `exactly ${expect.length} alert outcome rows`);
  for (const e of expect) {
    const mine = posts.filter((p) => p.alert?.sku === e.p.sku);
    assert.equal(mine.length, 1, `one alert post for ${e.p.sku}`);
    const [post] = mine;
    assert.equal(post.type, `alert.${e.trigger}`, `${e.p.sku}: trigger`);
    assert.equal(post.webhook_id, post.alert.id, `${e.p.sku}: webhook-id is the alert id`);
    assert.equal(String(post.alert.product_id), String(e.p.id), `${e.p.sku}: product id`);
    assert.deepEqual([num(post.alert.old), num(post.alert.new)], [e.old, e.new], `${e.p.sku}: old → new`);
    assert.match(post.text, e.text, `${e.p.sku}: the text names the product, SKU, old and new value`);
    // EverShop's admin opens a product by uuid (modules/catalog/pages/admin/productEdit).
    const link = `${STORE}/admin/products/edit/${e.p.uuid}`;
    assert.equal(post.link, link, `${e.p.sku}: the link is the product's admin page`);
    assert.ok(post.text.endsWith(` ${link}`), `${e.p.sku}: the text ends with the admin link`);
    const msg = staff.filter((m) => m.idempotency_key === post.alert.id);
    assert.equal(msg.length, 1, `${e.p.sku}: one staff message keyed by the alert id`);
    assert.equal(msg[0].content, post.text, `${e.p.sku}: the staff message says what the webhook said`);
    const o = outcomes.filter((x) => x.event_id === post.alert.id);
    assert.equal(o.length, 1, `${e.p.sku}: one outcome row for the alert`);
    assert.deepEqual([o[0].event_type, o[0].entity_id, o[0].alert_trigger, num(o[0].alert_old), num(o[0].alert_new)],
      [`alert.${e.trigger}`, String(e.p.id), e.trigger, e.old, e.new], `${e.p.sku}: the outcome row`);
  }
  log(`alerts: ${expect.map((e) => `${e.trigger} ${e.p.sku} ${e.old}→${e.new}`).join(', ')} — one webhook post, one staff message, one outcome row each`);
  summary.singles = expect.map((e) => e.trigger);

  // 2. A bulk price change: 50 products repriced 10 → 15 in one UPDATE, as
  // an import or a sale job writing the store's database does. EverShop
  // 2.2.1 has no bulk-edit API, and its /api/** allows 120 requests a
  // minute per client IP (modules/base/services/rateLimit.ts, not
  // configurable), so 50 creations and 50 PATCHes cannot both go through it
  // in one burst. Its product trigger emits one product_updated event per
  // row either way. The 50 price alerts must reach the owner within one
  // digest window and leave as one digest; everything before has been sent
  // (settled above), so nothing else shares the window.
  const bulk = Array.from({ length: 50 }, (_, i) => ({ i, name: `Shopstream Bulk ${RUN} #${String(i + 1).padStart(2, '0')}`, sku: `BULK-${RUN}-${String(i + 1).padStart(2, '0')}`, price: 10, qty: 100 }));
  const pool = async (items, fn, n = 8) => { const q = [...items]; await Promise.all(Array.from({ length: n }, async () => { while (q.length) await fn(q.shift()); })); };
  await pool(bulk, async (p) => {
    const r = await api('POST', '/api/products', { name: p.name, url_key: `bulk-${RUN}-${p.i + 1}`, sku: p.sku, price: p.price, qty: p.qty, status: 1,
      visibility: 1, group_id: 1, package_id: 1, weight: 0.5, manage_stock: 1, stock_availability: 1 });
    p.id = r.product_id; p.uuid = r.uuid;
  });
  log(`bulk: 50 products created at ${bulk[0].price}`);
  sql(`UPDATE product SET price = 15 WHERE sku LIKE 'BULK-${RUN}-%'`);
  assert.equal(Number(sql(`SELECT count(*) FROM product WHERE sku LIKE 'BULK-${RUN}-%' AND price = 15`)[0][0]), 50, '50 products repriced');
  for (const p of bulk) p.price = 15;
  log('bulk: 50 prices changed 10 → 15 in one UPDATE');
  await settled('the bulk digest');
  const after = await alertView();
  assert.deepEqual(after.d.alerts.violations ?? [], [], 'every alert webhook post was signed and well formed');
  const newPosts = after.posts.slice(posts.length);
  const newStaff = after.staff.slice(staff.length);
  const bulkSkus = new Set(bulk.map((p) => p.sku));
  const bulkRecords = alertRecords().filter((a) => bulkSkus.has(a.sku));
  const gaps = bulkRecords.slice(1).map((a, i) => a.ts - bulkRecords[i].ts);
  const spread = bulkRecords.length ? bulkRecords[bulkRecords.length - 1].ts - bulkRecords[0].ts : 0;
  log(`bulk: ${bulkRecords.length} alerts on shopstream.alerts over ${(spread / 1000).toFixed(1)} s, largest gap ${(Math.max(0, ...gaps) / 1000).toFixed(1)} s`);
  assert.equal(bulkRecords.length, 50, '50 price alerts raised for the bulk change');
  assert.ok(spread < DIGEST_MAX_WAIT_S * 1000, `the burst fits the digest window's max wait (${spread} ms)`);
  assert.deepEqual(newPosts.map((p) => p.type), ['alert.digest'], `the bulk change gave exactly one post, a digest: ${newPosts.map((p) => p.text.split('\n')[0]).join(' | ')}`);
  assert.equal(newStaff.length, 1, `exactly one staff message for the bulk change: ${newStaff.map((m) => m.content.split('\n')[0]).join(' | ')}`);
  assert.ok(!after.posts.some((p) => p.type !== 'alert.digest' && bulkSkus.has(p.alert?.sku)), 'no single alert for a bulk product');
  const [digestPost] = newPosts;
  const dg = digestPost.digest;
  assert.equal(dg.total, 50, 'the digest counts 50 alerts');
  assert.deepEqual(dg.counts, { price_change: 50 }, 'all of them price changes');
  assert.equal(digestPost.webhook_id, dg.id, 'webhook-id is the digest id');
  assert.ok(50 >= DIGEST_MIN, 'the bulk is at least the digest minimum');
  const csv = dg.csv.trim().split('\n').slice(1).map((l) => l.split(','));
  assert.equal(csv.length, 50, 'the CSV lists all 50');
  assert.deepEqual(new Set(csv.map((c) => c[3])), bulkSkus, 'the CSV names every bulk SKU');
  assert.ok(csv.every((c) => c[1] === 'price_change' && num(c[5]) === 10 && num(c[6]) === 15), 'every CSV row: price_change 10 → 15');
  assert.match(digestPost.text, /^50 store alerts: 50 price change\./, 'the digest text starts with the counts');
  assert.equal(digestPost.text.split('\n').filter((l) => l.startsWith('- Price change: Shopstream Bulk')).length, Math.min(10, 50), 'the digest text lists the first ten');
  assert.match(digestPost.text, /…and 40 more \(full list in the CSV\)\./, 'and says how many more');
  assert.match(digestPost.text, new RegExp(`regular price ${priceRe(10)} → ${priceRe(15)} \\(\\+50\\.0%\\)`), 'with old and new price');
  assert.equal(newStaff[0].idempotency_key, dg.id, 'the staff message is keyed by the digest id');
  assert.ok(newStaff[0].content.startsWith(digestPost.text), 'the staff message carries the digest text');
  const bulkOutcomes = alertOutcomes().filter((o) => bulk.some((p) => String(p.id) === o.entity_id));
  assert.equal(bulkOutcomes.length, 50, '50 alert outcome rows for the bulk change');
  assert.ok(bulkOutcomes.every((o) => o.alert_trigger === 'price_change' && num(o.alert_old) === 10 && num(o.alert_new) === 15), 'each outcome row: price_change 10 → 15');
  assert.equal(alertOutcomes().length, 53, 'no other alert outcome in the whole run');
  log(`alerts: bulk change → one digest (${dg.total} price changes, CSV of ${csv.length}) to the webhook and the staff inbox, 50 outcome rows`);
  summary.digest = { total: dg.total, spread_ms: spread, largest_gap_ms: Math.max(0, ...gaps) };
} catch (e) { failures.push(`alerts: ${e.message}`); log(`FAILED alerts: ${e.message}`); }

if (failures.length) { console.log(JSON.stringify({ ok: false, failures })); process.exit(1); }
console.log(JSON.stringify({ ok: true, outbox_rows: rows.length, kafka_records: seen.size, messages: expected, catalog_document: catalog.doc.name, alerts: summary, seconds: (Date.now() - t0) / 1000 }));

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
