import assert from 'node:assert/strict';
import { test } from 'node:test';
import { customerData, entityId, envelope, EVENT_MAP, inventoryFromEvent, kindOf, orderData, orderTransition, productData } from '../src/lib/mapping.js';

const productRow = {
  product_id: 42, uuid: '5b1f9a52-7c1e-4a3e-9a57-3c2f4f0a9e11', type: 'simple', variant_group_id: null,
  visibility: true, group_id: 1, sku: 'TSHIRT-RED-M', price: '24.9000', weight: '0.2000', package_id: 1,
  tax_class: null, status: true, created_at: '2026-11-01T10:00:00Z', updated_at: '2026-11-20T09:15:02Z',
  category_id: 3, no_shipping_required: false, meta_data: null
};

test('event names map to shopstream names and routes', () => {
  assert.equal(EVENT_MAP.product_created, 'product.created');
  assert.equal(EVENT_MAP.product_updated, 'product.updated');
  assert.equal(EVENT_MAP.product_deleted, 'product.deleted');
  assert.equal(EVENT_MAP.order_placed, 'order.created');
  assert.equal(EVENT_MAP.order_status_updated, 'order.updated');
  assert.equal(EVENT_MAP.shipment_status_changed, 'order.updated');
  assert.equal(EVENT_MAP.customer_registered, 'customer.created');
  assert.equal(kindOf('product.deleted'), 'product');
  assert.equal(kindOf('order.created'), 'order');
  assert.equal(kindOf('customer.created'), 'customer');
  assert.throws(() => kindOf('order.deleted'));
});

test('product: row fields, name and qty from other tables, numeric price', () => {
  const d = productData(productRow, { name: 'Red T-shirt M', qty: '7', stock_availability: true });
  assert.equal(d.product_id, 42);
  assert.equal(d.uuid, productRow.uuid);
  assert.equal(d.sku, 'TSHIRT-RED-M');
  assert.equal(d.price, 24.9);
  assert.equal(d.status, true);
  assert.equal(d.name, 'Red T-shirt M');
  assert.equal(d.qty, 7);
  assert.equal(d.stock_availability, true);
  assert.equal('meta_data' in d, false);
  assert.equal('tax_class' in d, false);
  assert.equal(entityId('product.updated', d), '42');
  // a deleted product has no description any more
  const del = productData(productRow);
  assert.equal(del.name, undefined);
  assert.throws(() => productData({ sku: 'x' }), /product_id/);
});

test('inventory_updated: the stock the event wrote wins over the table read later', () => {
  // EverShop's trigger: json_build_object('old', row_to_json(OLD), 'new', row_to_json(NEW)).
  const sold = {
    old: { product_inventory_id: 9, product_inventory_product_id: 42, qty: 1, manage_stock: true, stock_availability: true },
    new: { product_inventory_id: 9, product_inventory_product_id: 42, qty: 0, manage_stock: true, stock_availability: true }
  };
  assert.deepEqual(inventoryFromEvent(sold), { qty: 0, manage_stock: true, stock_availability: true });
  // Handled after a restock: the table says 10, the event says 0, and 0 is sent.
  const later = { name: 'Red T-shirt M', url_key: 'red-m', qty: 10, stock_availability: true, manage_stock: true };
  const d = productData(productRow, { ...later, ...inventoryFromEvent(sold) });
  assert.equal(d.qty, 0);
  assert.equal(d.name, 'Red T-shirt M');
  assert.equal(d.price, 24.9);
  // numeric strings become numbers; a row without stock columns adds nothing
  assert.deepEqual(inventoryFromEvent({ new: { qty: '3.0000' } }), { qty: 3 });
  assert.deepEqual(inventoryFromEvent({ old: { qty: 3 } }), {});
  assert.deepEqual(inventoryFromEvent(undefined), {});
});

test('product: timestamps pass through as EverShop wrote them (microseconds kept)', () => {
  // Every product webhook's updated_at must compare equal for equal rows:
  // shopstream orders a product's events by it, so a copy cut to
  // milliseconds would read as older than the row it came from.
  const d = productData({ ...productRow, updated_at: '2026-12-03T09:51:06.85663+00:00' });
  assert.equal(d.updated_at, '2026-12-03T09:51:06.85663+00:00');
});

test('customer: the password hash never leaves', () => {
  const row = {
    customer_id: 7, uuid: 'a3b1', status: 1, group_id: 1, email: 'ana@example.com', full_name: 'Ana Lima',
    password: '$2a$10$abcdefghijklmnopqrstuv', reset_password_token: 'tok', created_at: '2026-11-19T08:00:00Z',
    updated_at: '2026-11-19T08:00:00Z', is_google_login: false
  };
  const d = customerData(row);
  assert.deepEqual(Object.keys(d).sort(), ['created_at', 'customer_id', 'email', 'full_name', 'group_id', 'status', 'updated_at', 'uuid']);
  const body = envelope('customer.created', '2026-11-19T08:00:00Z', d);
  assert.doesNotMatch(body, /password|\$2a\$|reset_password/);
  assert.equal(JSON.parse(body).data.email, 'ana@example.com');
  assert.equal(entityId('customer.created', d), '7');
});

test('order: number, e-mail, status and previous status', () => {
  const order = {
    order_id: 1001, uuid: '0e6c', order_number: '10001', customer_id: 7, customer_email: 'ana@example.com',
    customer_full_name: 'Ana Lima', currency: 'USD', grand_total: '49.8000', sub_total: '49.8000', status: 'processing',
    payment_status: 'paid', shipment_status: 'shipped', created_at: new Date('2026-11-20T09:20:00Z'),
    updated_at: new Date('2026-11-21T15:02:11Z'), shipping_address_id: 3
  };
  const d = orderData(order, { status: 'processing', previous_status: 'new', shipment_status: 'shipped', previous_shipment_status: 'pending' });
  assert.equal(d.order_id, 1001);
  assert.equal(d.order_number, '10001');
  assert.equal(d.customer_email, 'ana@example.com');
  assert.equal(d.status, 'processing');
  assert.equal(d.previous_status, 'new');
  assert.equal(d.shipment_status, 'shipped');
  assert.equal(d.previous_shipment_status, 'pending');
  assert.equal(d.grand_total, 49.8);
  assert.equal(d.updated_at, '2026-11-21T15:02:11.000Z');
  assert.equal('shipping_address_id' in d, false);
  const created = orderData({ ...order, status: 'new', shipment_status: 'pending' });
  assert.equal(created.previous_status, undefined);
});

test('envelope: event, RFC 3339 timestamp, data; unknown events refused', () => {
  const body = envelope('product.created', new Date('2026-11-20T09:15:02Z'), { product_id: 1 });
  assert.equal(body, '{"event":"product.created","timestamp":"2026-11-20T09:15:02.000Z","data":{"product_id":1}}');
  assert.throws(() => envelope('product.exploded', new Date(), {}));
});

test('envelope: the stable webhook id is inside the signed body', () => {
  const body = envelope('order.created', new Date('2026-11-20T09:15:02Z'), { order_id: 7 }, '0f8e-uuid');
  assert.equal(body, '{"event":"order.created","timestamp":"2026-11-20T09:15:02.000Z","webhook_id":"0f8e-uuid","data":{"order_id":7}}');
  assert.equal(JSON.parse(body).webhook_id, '0f8e-uuid');
  assert.throws(() => envelope('order.created', new Date(), { order_id: 7 }, ''), /webhook id/);
  assert.throws(() => envelope('order.created', new Date(), { order_id: 7 }, 'a\u0000b'), /webhook id/);
  assert.throws(() => envelope('order.created', new Date(), { order_id: 7 }, 'x'.repeat(201)), /webhook id/);
});

test('order transitions: status change keeps the shipment roll-up', () => {
  const t = orderTransition('order_status_updated', { orderId: 1, before: 'new', after: 'processing' }, { status: 'new', shipment_status: 'pending' }, { status: 'processing', shipment_status: 'pending' });
  assert.deepEqual(t.change, { status: 'processing', previous_status: 'new', shipment_status: 'pending', previous_shipment_status: 'pending' });
  assert.deepEqual(t.next, { status: 'processing', shipment_status: 'pending' });
  assert.equal(orderTransition('order_status_updated', { before: 'new', after: 'new' }, null, {}), null);
});

test('order transitions: shipment roll-up against the last one announced', () => {
  const known = { status: 'processing', shipment_status: 'pending' };
  const t = orderTransition('shipment_created', { shipmentId: 1, orderId: 1 }, known, { status: 'processing', shipment_status: 'shipped' });
  assert.deepEqual(t.change, { status: 'processing', previous_status: 'processing', shipment_status: 'shipped', previous_shipment_status: 'pending' });
  // same roll-up (in_transit → out_for_delivery): nothing to announce
  assert.equal(orderTransition('shipment_status_changed', { from: 'in_transit', to: 'out_for_delivery' }, t.next, { status: 'processing', shipment_status: 'shipped' }), null);
  const d = orderTransition('shipment_status_changed', { from: 'shipped', to: 'delivered' }, t.next, { status: 'completed', shipment_status: 'delivered' });
  // the order status is announced by its own order_status_updated event
  assert.deepEqual(d.change, { status: 'processing', previous_status: 'processing', shipment_status: 'delivered', previous_shipment_status: 'shipped' });
  assert.throws(() => orderTransition('order_placed', {}, null, {}));
});
