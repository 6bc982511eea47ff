import type { Service } from '../config.js';
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
import { startWaitingRoomWorker } from './waiting-room.worker.js';
import type { Worker } from './worker.js';

/**
 * The workers of the services this process runs. Each worker is a small loop in its own file.
 * Queue consumers scale out (JetStream shares the messages); every sweep takes a Redis lock per
 * round, so however many processes run `sweeps`, one runs each round.
 */
export async function startWorkers(infra: Infra, services: Services, run: ReadonlySet<Service>): Promise<Worker[]> {
  const workers: Worker[] = [];
  if (run.has('booking')) {
    workers.push(
      await startBookingWorker(infra, services.decider, services.registry, {
        maxBatch: infra.config.booking.batchSize,
      }),
    );
  }
  if (run.has('sweeps')) {
    workers.push(startBookingSweeper(infra, services.registry));
    workers.push(startStockSweeper(infra, services.gate, services.decider));
    workers.push(startWebhookSweeper(infra));
    workers.push(...startExpirySweepers(infra, services.holds));
    // The waiting rooms' admission loop: one runner at a time, like the sweeps.
    workers.push(startWaitingRoomWorker(infra, services.waitingRoom.runner));
  }
  // The outbox relay publishes committed effects (notifications among them) to NATS.
  if (run.has('notifications')) {
    workers.push(await startOutboxRelay(infra));
    workers.push(await startNotificationWorker(infra, services.notifications));
  }
  if (run.has('payments')) workers.push(await startPaymentWorker(infra, services.settlement));
  if (run.has('expiry')) workers.push(await startExpiryWorker(infra, services.holds));
  return workers;
}
