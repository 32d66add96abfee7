// Pure mapping from EverShop's event data to shopstream's webhook envelope
// {"event","timestamp","data"}. No I/O here: the subscribers read what they
// need from the database and hand plain objects to these functions.
//
// `data` uses EverShop's own row shape (snake_case column names), which
// shopstream accepts as is. Only whitelisted fields leave EverShop: a
// customer's password hash never does, whatever the row carries.

/** Webhook route (the {kind} in /api/webhooks/evershop/{kind}) per shopstream event. */
export const KIND_BY_EVENT = Object.freeze({
  'product.created': 'product',
  'product.updated': 'product',
  'product.deleted': 'product',
  'order.created': 'order',
  'order.updated': 'order',
  'customer.created': 'customer'
});

/** EverShop event name → shopstream event name (order and shipment changes are derived, see orderTransition). */
export const EVENT_MAP = Object.freeze({
  product_created: 'product.created',
  product_updated: 'product.updated',
  product_deleted: 'product.deleted',
  inventory_updated: 'product.updated',
  order_placed: 'order.created',
  order_status_updated: 'order.updated',
  shipment_created: 'order.updated',
  shipment_status_changed: 'order.updated',
  customer_registered: 'customer.created'
});

export function kindOf(event) {
  const kind = KIND_BY_EVENT[event];
  if (!kind) throw new Error(`unknown shopstream event ${event}`);
  return kind;
}

/** RFC 3339 timestamp (UTC, milliseconds) of a Date, an ISO string or epoch ms. */
export function isoTime(t) {
  const d = t instanceof Date ? t : new Date(t ?? Date.now());
  if (Number.isNaN(d.getTime())) return new Date().toISOString();
  return d.toISOString();
}

function pick(src, fields) {
  const out = {};
  for (const f of fields) {
    if (src && src[f] !== undefined) out[f] = src[f];
  }
  return out;
}

// Numeric columns come back from pg as strings ("24.9000") and from
// row_to_json as numbers; send a number either way.
function num(v) {
  if (v === null || v === undefined || v === '') return v;
  const n = Number(v);
  return Number.isFinite(n) ? n : v;
}

const PRODUCT_FIELDS = [
  'product_id', 'uuid', 'type', 'variant_group_id', 'visibility', 'group_id', 'sku', 'price',
  'weight', 'status', 'category_id', 'no_shipping_required', 'created_at', 'updated_at'
];

/**
 * product.created / product.updated / product.deleted data.
 * @param {object} row the product row (the trigger's row_to_json)
 * @param {{name?:string, qty?:number, stock_availability?:boolean, manage_stock?:boolean, url_key?:string}} [extra]
 *   what lives in other tables (product_description, product_inventory); absent for deletes
 */
export function productData(row, extra = {}) {
  if (!row || row.product_id === undefined || row.product_id === null) {
    throw new Error('product row without product_id');
  }
  const data = pick(row, PRODUCT_FIELDS);
  data.price = num(data.price);
  if (data.weight !== undefined) data.weight = num(data.weight);
  for (const f of ['name', 'url_key', 'qty', 'stock_availability', 'manage_stock']) {
    if (extra[f] !== undefined && extra[f] !== null) data[f] = f === 'qty' ? num(extra[f]) : extra[f];
  }
  return data;
}

/**
 * The stock an inventory_updated event recorded. EverShop's trigger on
 * product_inventory hands {old, new}, the row as each UPDATE wrote it (a
 * checkout's order_item trigger takes qty down this way). Reading the table
 * when the event is handled instead would give every queued event the latest
 * value: a sale to 0 followed by a restock would arrive as two events saying
 * "in stock", and shopstream's out-of-stock alert would never see the 0.
 * @param {{old?:object, new?:object}} raw the event data
 * @returns {{qty?:number, stock_availability?:boolean, manage_stock?:boolean}}
 */
export function inventoryFromEvent(raw) {
  const out = pick(raw?.new, ['qty', 'stock_availability', 'manage_stock']);
  if (out.qty !== undefined) out.qty = num(out.qty);
  return out;
}

const ORDER_FIELDS = [
  'order_id', 'uuid', 'order_number', 'customer_id', 'customer_email', 'customer_full_name',
  'currency', 'grand_total', 'sub_total', 'total_qty', 'status', 'payment_status',
  'shipment_status', 'payment_method', 'shipping_method', 'created_at', 'updated_at'
];

/**
 * order.created / order.updated data: the order row plus the transition.
 * @param {object} order the order row
 * @param {{status?:string, previous_status?:string, shipment_status?:string, previous_shipment_status?:string, updated_at?:string}} [change]
 */
export function orderData(order, change = {}) {
  if (!order || order.order_id === undefined || order.order_id === null) {
    throw new Error('order row without order_id');
  }
  const data = pick(order, ORDER_FIELDS);
  for (const f of ['grand_total', 'sub_total']) if (data[f] !== undefined) data[f] = num(data[f]);
  for (const f of ['status', 'previous_status', 'shipment_status', 'previous_shipment_status']) {
    if (change[f] !== undefined && change[f] !== null) data[f] = change[f];
  }
  if (change.updated_at) data.updated_at = isoTime(change.updated_at);
  else if (data.updated_at) data.updated_at = isoTime(data.updated_at);
  if (data.created_at) data.created_at = isoTime(data.created_at);
  return data;
}

// Whitelist: password, reset tokens and anything else a customer row grows never leave.
const CUSTOMER_FIELDS = ['customer_id', 'uuid', 'status', 'group_id', 'email', 'full_name', 'created_at', 'updated_at'];

export function customerData(row) {
  if (!row || row.customer_id === undefined || row.customer_id === null) {
    throw new Error('customer row without customer_id');
  }
  const data = pick(row, CUSTOMER_FIELDS);
  for (const f of ['created_at', 'updated_at']) if (data[f]) data[f] = isoTime(data[f]);
  return data;
}

/** Entity id that shopstream keys its record on (and the sender orders by). */
export function entityId(event, data) {
  const kind = kindOf(event);
  const id = data[`${kind}_id`];
  if (id === undefined || id === null || id === '') throw new Error(`${event} without ${kind}_id`);
  return String(id);
}

/**
 * The exact body bytes that will be signed and sent, fixed once at insert
 * time: every retry sends the same bytes with the same signature.
 *
 * `webhookId`, the outbox row's stable id, goes inside the body as
 * `webhook_id`: shopstream takes the event id from the signed bytes only
 * (a header is not covered by x-evershop-signature, so a replay with a new
 * header would otherwise look like a new event).
 */
export function envelope(event, timestamp, data, webhookId) {
  kindOf(event);
  if (webhookId === undefined || webhookId === null) {
    return JSON.stringify({ event, timestamp: isoTime(timestamp), data });
  }
  const id = String(webhookId);
  if (id === '' || Buffer.byteLength(id, 'utf8') > 200 || /[\u0000-\u001f\u007f]/.test(id)) {
    throw new Error('webhook id must be 1 to 200 printable bytes');
  }
  return JSON.stringify({ event, timestamp: isoTime(timestamp), webhook_id: id, data });
}

/**
 * Order and shipment changes → one order.updated per change the customer can
 * hear about, with the previous values filled in.
 *
 * `known` is the last state this extension announced for the order
 * ({status, shipment_status}, from its own table), `current` the order row as
 * it is now. The event decides what moved:
 *  - order_status_updated {before, after}: the order status, exactly as
 *    EverShop recorded it (shipment roll-up unchanged in this message);
 *  - shipment_created / shipment_status_changed: the order's shipment
 *    roll-up (order.shipment_status) against the last one announced; per-
 *    shipment codes (in_transit, ...) that leave the roll-up unchanged send nothing.
 * Returns null when nothing changed, else {change, next} where next is the
 * state to remember.
 */
export function orderTransition(eventName, eventData, known, current) {
  const prev = {
    status: known?.status ?? current?.status ?? null,
    shipment_status: known?.shipment_status ?? 'pending'
  };
  if (eventName === 'order_status_updated') {
    const after = eventData?.after ?? current?.status;
    const before = eventData?.before ?? prev.status;
    if (!after || after === before) return null;
    return {
      change: {
        status: after,
        previous_status: before,
        shipment_status: prev.shipment_status,
        previous_shipment_status: prev.shipment_status
      },
      next: { status: after, shipment_status: prev.shipment_status }
    };
  }
  if (eventName === 'shipment_created' || eventName === 'shipment_status_changed') {
    const roll = current?.shipment_status;
    if (!roll || roll === prev.shipment_status) return null;
    const status = prev.status ?? current?.status;
    return {
      change: {
        status,
        previous_status: status,
        shipment_status: roll,
        previous_shipment_status: prev.shipment_status
      },
      next: { status, shipment_status: roll }
    };
  }
  throw new Error(`not an order change event: ${eventName}`);
}
