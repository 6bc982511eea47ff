import type { Infra } from '../infra/infra.js';
import { queuePaymentEvent } from '../services/payments/payment-queue.js';
import { unappliedWebhookEvents } from '../services/payments/webhook-event.repository.js';
import type { Worker } from './worker.js';
import { runPeriodically } from './periodic.js';

const BATCH = 500;

/**
 * Queues again every stored Stripe event still unapplied some time after it arrived: JetStream on
 * one node can lose an acknowledged message, and a publish can fail after the row was stored.
 * The message id changes once per period, so an event is queued at most once a period while it
 * waits (JetStream drops repeats within a period); the worker applies it once whatever the count.
 */
export function startWebhookSweeper(infra: Infra): Worker {
  const { orm, nats, config } = infra;
  const log = infra.log.child({ worker: 'webhook-sweeper' });
  // Long enough for a healthy worker to have applied it, short enough to matter: 30 s by default.
  const periodSeconds = Math.max(1, (config.sweepIntervalMs * 6) / 1000);
  return runPeriodically({
    name: 'webhook-sweeper',
    intervalMs: config.sweepIntervalMs,
    log,
    lock: { redis: infra.redis, namespace: config.namespace },
    async task() {
      const rows = await unappliedWebhookEvents(orm.em.fork(), periodSeconds, BATCH);
      for (const row of rows) {
        await queuePaymentEvent(nats, row.type, row.id, `${row.id}:sweep:${row.period}`);
      }
      if (rows.length > 0) log.warn({ count: rows.length }, 'queued unapplied Stripe events again');
    },
  });
}
