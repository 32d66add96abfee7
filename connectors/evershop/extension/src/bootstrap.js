// Starts the outbox sender in EverShop's event (subscriber) process, the one
// long-lived background process every EverShop deployment runs. The web
// process, the cron process and `evershop build` do not send. Several
// EverShop instances may run: the sender holds a PostgreSQL advisory lock, so
// exactly one drains the outbox at a time.
import { startSender } from './lib/sender.js';

export default async (context = {}) => {
  if (context.process !== 'event') return;
  startSender();
};
