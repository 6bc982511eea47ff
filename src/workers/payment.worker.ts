import type { Infra } from '../infra/infra.js';
import { runConsumer } from '../infra/queue-consumer.js';
import type { PaymentSettlement } from '../services/payments/payment-settlement.service.js';
import { PaymentEventJob, isValid } from '../services/messages/queue-messages.js';
import type { Worker } from './worker.js';

const DURABLE = 'payment-worker';
/** Events applied at once by one worker; each is its own transaction (and maybe a provider call). */
const MAX_BATCH = 32;

/**
 * Applies stored Stripe events to orders, each once (see PaymentSettlement). The message carries
 * only the event id; the worker re-reads the stored event, so a re-publish by the sweep, a
 * redelivery or a duplicate costs one lookup. A passing fault (Postgres, the provider) leaves the
 * event unapplied and the message is redelivered.
 */
export async function startPaymentWorker(infra: Infra, settlement: PaymentSettlement): Promise<Worker> {
  const { nats, metrics } = infra;
  const log = infra.log.child({ worker: 'payments' });
  const consumer = await runConsumer<PaymentEventJob>({
    nats,
    log,
    metrics,
    maxDeliver: infra.config.queue.maxDeliver,
    stream: nats.names.streams.payments,
    durable: DURABLE,
    ackWaitMs: infra.config.queue.ackWaitMs,
    maxBatch: MAX_BATCH,
    retryDelayMs: 2000,
    isValid: isValid(PaymentEventJob),
    async handle(jobs) {
      await Promise.all(
        jobs.map(async (job) => {
          const { eventId } = job.data;
          try {
            const applied = await settlement.applyEvent(eventId);
            if (applied.result === 'missing') {
              // Every queued event was stored first; without the row there is nothing to apply.
              job.term('no such webhook event');
              return;
            }
            const action = job.subject.slice(job.subject.indexOf('.payment.') + '.payment.'.length);
            metrics.paymentEvents.inc({ action, outcome: applied.result });
            if (applied.result !== 'duplicate') log.info({ eventId, ...applied }, 'payment event applied');
            job.ack();
          } catch (err) {
            log.warn({ err, eventId, delivery: job.deliveryCount }, 'payment event not applied; will retry');
            job.nak(Math.min(60_000, 1000 * 2 ** Math.min(job.deliveryCount, 6)), err);
          }
        }),
      );
    },
  });
  return { name: 'payment', stop: () => consumer.stop() };
}
