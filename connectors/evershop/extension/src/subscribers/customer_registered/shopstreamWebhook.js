import { recordCustomer } from '../../lib/record.js';

export default async function shopstreamWebhook(data) {
  await recordCustomer('customer_registered', data);
}
