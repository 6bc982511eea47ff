import type { Database } from '../../infra/database.js';
import type { Nats } from '../../infra/nats.js';
import type { StripeEventLike } from '../../infra/payments/webhook-signature.js';
import type { Logger } from '../../logger.js';
import { toPaymentAction } from './payment-events.js';
import { queuePaymentEvent } from './payment-queue.js';
import { isWebhookEventPending, storeWebhookEvent, unappliedWebhookEvents } from './webhook-event.repository.js';

/** What became of a verified provider event. */
export type IntakeResult = 'accepted' | 'duplicate' | 'ignored';

/**
 * Verified provider events into Postgres and onto the payment queue. The row is written before the
 * webhook is answered because JetStream on one node can lose an acknowledged message; an event
 * stored but never applied is queued again by `requeueUnapplied`. A repeated event id changes
 * nothing. Unsupported types are stored as already processed (`ignored: …`).
 */
export class WebhookIntake {
  constructor(private readonly deps: { orm: Database; nats: Nats; log: Logger }) {}

  /** Stores a verified event (its signed bytes as they came) and queues it for the payment worker. */
  async receive(event: StripeEventLike, rawPayload: string): Promise<IntakeResult> {
    const action = toPaymentAction(event);
    const ignored = action.kind === 'ignore' ? `ignored: ${action.reason}` : null;
    const em = this.deps.orm.em.fork();
    const inserted = await storeWebhookEvent(em, event, rawPayload, ignored);
    if (ignored) return inserted ? 'ignored' : 'duplicate';
    // Seen before: if it is still unapplied, queue it again, as the first answer may have been lost
    // before it was queued. Within JetStream's duplicate window the same message id is dropped.
    const pending = inserted || (await isWebhookEventPending(em, event.id));
    if (pending) {
      try {
        await queuePaymentEvent(this.deps.nats, event.type, event.id, event.id);
      } catch (err) {
        // Stored, so not lost: requeueUnapplied queues it once NATS is back.
        this.deps.log.warn({ err, eventId: event.id }, 'could not queue a stored Stripe event; the sweep will');
      }
    }
    return inserted ? 'accepted' : 'duplicate';
  }

  /**
   * Queues again up to `limit` stored events still unapplied `periodSeconds` after they arrived.
   * The message id changes once per period, so an event is queued at most once a period while it
   * waits (JetStream drops repeats within a period); the worker applies it once whatever the count.
   */
  async requeueUnapplied(periodSeconds: number, limit: number): Promise<number> {
    const rows = await unappliedWebhookEvents(this.deps.orm.em.fork(), periodSeconds, limit);
    for (const row of rows) {
      await queuePaymentEvent(this.deps.nats, row.type, row.id, `${row.id}:sweep:${row.period}`);
    }
    return rows.length;
  }
}
