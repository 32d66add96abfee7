// What each subscriber calls: read what the event does not carry, map, insert
// into the outbox. Errors are logged and re-thrown (EverShop logs them too);
// an event whose row could not be written is the one thing this extension
// cannot recover, so it is logged loudly with the event data's ids.
import { pool } from '@evershop/evershop/lib/postgres';
import { error as logError } from '@evershop/evershop/lib/log';
import { customerData, inventoryFromEvent, orderData, orderTransition, productData } from './mapping.js';
import { findSourceEvent, insertWebhook, ORDER_STATE } from './outboxStore.js';

async function productExtras(db, productId) {
  const { rows } = await db.query(
    `SELECT d.name, d.url_key, i.qty, i.stock_availability, i.manage_stock
       FROM product p
       LEFT JOIN product_description d ON d.product_description_product_id = p.product_id
       LEFT JOIN product_inventory i ON i.product_inventory_product_id = p.product_id
      WHERE p.product_id = $1`,
    [productId]
  );
  return rows[0] || {};
}

async function withClient(fn) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const r = await fn(client);
    await client.query('COMMIT');
    return r;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}

function fail(name, e) {
  logError(`shopstream-webhooks: could not record ${name}: ${e?.message || e}`);
  throw e;
}

/** product_created / product_updated / product_deleted / inventory_updated */
export async function recordProduct(name, raw) {
  try {
    const event = { product_created: 'product.created', product_updated: 'product.updated', product_deleted: 'product.deleted', inventory_updated: 'product.updated' }[name];
    const source = await findSourceEvent(pool, name, raw);
    let row = raw;
    if (name === 'inventory_updated') {
      const productId = raw?.new?.product_inventory_product_id ?? raw?.old?.product_inventory_product_id;
      // row_to_json, as EverShop's own product triggers hand it: a plain
      // SELECT * gives JS Dates, which cut updated_at to milliseconds, and
      // this webhook would then look older than the product_created one
      // (row_to_json keeps microseconds) to shopstream's newest-wins rule.
      const { rows } = await pool.query('SELECT row_to_json(p) AS row FROM product p WHERE p.product_id = $1', [productId]);
      if (!rows[0]) return; // product gone: its product_deleted says so
      row = rows[0].row;
    }
    const extra = name === 'product_deleted' ? {} : await productExtras(pool, row.product_id);
    // Stock as this event wrote it, not as the table holds it by now.
    if (name === 'inventory_updated') Object.assign(extra, inventoryFromEvent(raw));
    await insertWebhook(pool, { event, data: productData(row, extra), source });
  } catch (e) {
    fail(name, e);
  }
}

/** order_placed */
export async function recordOrderPlaced(name, raw) {
  try {
    const source = await findSourceEvent(pool, name, raw);
    await withClient(async (db) => {
      const { rows } = await db.query('SELECT * FROM "order" WHERE order_id = $1', [raw.order_id]);
      const order = rows[0] || raw;
      await db.query(
        `INSERT INTO ${ORDER_STATE} (order_id, status, shipment_status) VALUES ($1, $2, $3)
         ON CONFLICT (order_id) DO NOTHING`,
        [order.order_id, order.status, order.shipment_status || 'pending']
      );
      await insertWebhook(db, { event: 'order.created', data: orderData(order), source });
    });
  } catch (e) {
    fail(name, e);
  }
}

/** order_status_updated, shipment_created, shipment_status_changed */
export async function recordOrderChange(name, raw) {
  try {
    const orderId = raw?.orderId ?? raw?.order_id ?? raw?.shipment_order_id;
    const source = await findSourceEvent(pool, name, raw);
    await withClient(async (db) => {
      const { rows } = await db.query('SELECT * FROM "order" WHERE order_id = $1', [orderId]);
      const order = rows[0];
      if (!order) throw new Error(`order ${orderId} not found`);
      // One writer per order at a time: the state row is the lock.
      await db.query(
        `INSERT INTO ${ORDER_STATE} (order_id, status, shipment_status) VALUES ($1, NULL, NULL)
         ON CONFLICT (order_id) DO NOTHING`,
        [orderId]
      );
      const st = await db.query(`SELECT status, shipment_status FROM ${ORDER_STATE} WHERE order_id = $1 FOR UPDATE`, [orderId]);
      const t = orderTransition(name, raw, st.rows[0], order);
      if (!t) return;
      await db.query(
        `UPDATE ${ORDER_STATE} SET status = $2, shipment_status = $3, updated_at = now() WHERE order_id = $1`,
        [orderId, t.next.status, t.next.shipment_status]
      );
      const at = source?.created_at || new Date();
      await insertWebhook(db, { event: 'order.updated', data: orderData(order, { ...t.change, updated_at: at }), source });
    });
  } catch (e) {
    fail(name, e);
  }
}

/** customer_registered */
export async function recordCustomer(name, raw) {
  try {
    const source = await findSourceEvent(pool, name, raw);
    await insertWebhook(pool, { event: 'customer.created', data: customerData(raw), source });
  } catch (e) {
    fail(name, e);
  }
}
