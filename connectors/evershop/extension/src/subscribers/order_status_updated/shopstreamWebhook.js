import { recordOrderChange } from '../../lib/record.js';

export default async function shopstreamWebhook(data) {
  await recordOrderChange('order_status_updated', data);
}
