import type { Infra } from '../infra/infra.js';
import { WebhookIntake } from '../services/payments/webhook-intake.service.js';
import type { Worker } from './worker.js';
import { runPeriodically } from './periodic.js';

const BATCH = 500;

/**
 * Queues again every stored Stripe event still unapplied some time after it arrived: JetStream on
 * one node can lose an acknowledged message, and a publish can fail after the row was stored
 * (WebhookIntake.requeueUnapplied).
 */
export function startWebhookSweeper(infra: Infra): Worker {
  const { orm, nats, config } = infra;
  const log = infra.log.child({ worker: 'webhook-sweeper' });
  const intake = new WebhookIntake({ orm, nats, log });
  // Long enough for a healthy worker to have applied it, short enough to matter: 30 s by default.
  const periodSeconds = Math.max(1, (config.sweepIntervalMs * 6) / 1000);
  return runPeriodically({
    name: 'webhook-sweeper',
    intervalMs: config.sweepIntervalMs,
    log,
    lock: { redis: infra.redis, namespace: config.namespace },
    async task() {
      const count = await intake.requeueUnapplied(periodSeconds, BATCH);
      if (count > 0) log.warn({ count }, 'queued unapplied Stripe events again');
    },
  });
}
