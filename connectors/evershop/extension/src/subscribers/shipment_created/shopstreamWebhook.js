import { recordOrderChange } from '../../lib/record.js';

export default async function shopstreamWebhook(data) {
  await recordOrderChange('shipment_created', data);
}
