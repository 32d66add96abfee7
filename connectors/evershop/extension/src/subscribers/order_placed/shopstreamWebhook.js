import { recordOrderPlaced } from '../../lib/record.js';

export default async function shopstreamWebhook(data) {
  await recordOrderPlaced('order_placed', data);
}
