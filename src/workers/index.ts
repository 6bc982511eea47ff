import type { Infra } from '../infra/infra.js';
import type { Services } from '../services/index.js';
import { startBookingSweeper } from './booking.sweeper.js';
import { startBookingWorker } from './booking.worker.js';
import { startExpirySweepers } from './expiry.sweeper.js';
import { startExpiryWorker } from './expiry.worker.js';
import { startNotificationWorker } from './notification.worker.js';
import { startOutboxRelay } from './outbox.relay.js';
import { startPaymentWorker } from './payment.worker.js';
import { startStockSweeper } from './stock.sweeper.js';
import { startWebhookSweeper } from './webhook.sweeper.js';
import type { Worker } from './worker.js';

/** Everything ROLE=worker runs. Each worker is a small loop in its own file. */
export async function startWorkers(infra: Infra, services: Services): Promise<Worker[]> {
  const workers: Worker[] = [];
  workers.push(
    await startBookingWorker(infra, services.decider, services.registry, { maxBatch: infra.config.booking.batchSize }),
  );
  workers.push(startBookingSweeper(infra, services.registry));
  workers.push(startStockSweeper(infra, services.gate, services.decider));
  workers.push(await startOutboxRelay(infra));
  workers.push(await startNotificationWorker(infra, services.notifications));
  workers.push(await startPaymentWorker(infra, services.settlement));
  workers.push(startWebhookSweeper(infra));
  workers.push(await startExpiryWorker(infra, services.holds));
  workers.push(...startExpirySweepers(infra, services.holds));
  return workers;
}
