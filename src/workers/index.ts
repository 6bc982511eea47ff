import type { Infra } from '../app.js';
import type { Services } from '../services/index.js';

/** A running background loop: a queue consumer or a periodic sweep. */
export interface Worker {
  name: string;
  stop(): Promise<void>;
}

/** Everything ROLE=worker runs. Each worker is a small loop in its own file. */
export async function startWorkers(_infra: Infra, _services: Services): Promise<Worker[]> {
  const workers: Worker[] = [];
  return workers;
}
