import { publishJob, type Nats } from '../../infra/nats.js';
import type { PaymentEventJob } from '../messages/queue-messages.js';

/**
 * Queues a stored provider event for the payment worker, from the webhook route and from the sweep
 * that re-queues stored events not applied yet. `msgId` lets JetStream drop a repeat.
 */
export async function queuePaymentEvent(nats: Nats, type: string, eventId: string, msgId: string): Promise<void> {
  const job: PaymentEventJob = { eventId };
  await publishJob(nats, nats.names.jobs.paymentEvent(subjectToken(type)), job, msgId);
}

/** Stripe's types are dotted lower-case words; anything else is kept out of subjects. */
function subjectToken(type: string): string {
  return /^[a-z0-9_.]+$/.test(type) ? type : 'other';
}
