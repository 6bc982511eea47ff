import type { Infra } from '../app.js';
import type { Services } from '../services/index.js';
import { startNotificationWorker } from './notification.worker.js';
import { startOutboxRelay } from './outbox.relay.js';

/** A running background loop: a queue consumer or a periodic sweep. */
export interface Worker {
  name: string;
  stop(): Promise<void>;
}

/** Everything ROLE=worker runs. Each worker is a small loop in its own file. */
export async function startWorkers(infra: Infra, services: Services): Promise<Worker[]> {
  const workers: Worker[] = [];
  workers.push(await startOutboxRelay(infra));
  workers.push(await startNotificationWorker(infra, services.notifications));
  return workers;
}
