import { recordProduct } from '../../lib/record.js';

export default async function shopstreamWebhook(data) {
  await recordProduct('inventory_updated', data);
}
