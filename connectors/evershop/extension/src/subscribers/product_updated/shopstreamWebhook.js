import { recordProduct } from '../../lib/record.js';

export default async function shopstreamWebhook(data) {
  await recordProduct('product_updated', data);
}
