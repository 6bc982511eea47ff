import type { Database } from '../infra/database.js';
import type { Nats } from '../infra/nats.js';
import { verifyStripeWebhook, WebhookSignatureError } from '../infra/payments/webhook-signature.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { HANDLED_EVENT_TYPES, toPaymentAction } from '../services/payments/payment-events.js';
import { queuePaymentEvent } from '../services/payments/payment-queue.js';
import { isWebhookEventPending, storeWebhookEvent } from '../services/payments/webhook-event.repository.js';
import { readBody } from './body.js';
import { sendJson, type Route } from './server.js';

export const STRIPE_WEBHOOK_PATH = '/webhooks/stripe';

/** Stripe's events are a few KB; this only keeps a flood of bytes out of memory. */
const BODY_LIMIT = 1024 * 1024;

export interface StripeWebhookDeps {
  secret: string;
  orm: Database;
  nats: Nats;
  metrics: Metrics;
  log: Logger;
}

/**
 * `POST /webhooks/stripe`: raw bytes → signature verified before anything reads them (400, nothing
 * stored, when it fails) → the pure mapping → the event stored in webhook_events under its Stripe
 * id → queued for the payment worker with the event id as message id → 200. The row is written
 * before answering because JetStream on one node can lose an acknowledged message; an event
 * stored but never applied is re-published by the webhook sweep. A repeated event id is answered
 * 200 and changes nothing. Unsupported types are stored as already processed (`ignored: …`).
 */
export function stripeWebhookRoute(deps: StripeWebhookDeps): Route {
  return async (req, res) => {
    if ((req.url ?? '/').split('?')[0] !== STRIPE_WEBHOOK_PATH) return false;
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      sendJson(res, 405, { error: 'method not allowed' });
      return true;
    }
    const raw = await readBody(req, BODY_LIMIT);
    const header = req.headers['stripe-signature'];
    let event;
    try {
      event = verifyStripeWebhook(raw, Array.isArray(header) ? header[0] : header, deps.secret);
    } catch (err) {
      if (!(err instanceof WebhookSignatureError)) throw err;
      deps.metrics.paymentWebhooks.inc({ result: 'rejected', type: 'unknown' });
      deps.log.warn({ reason: err.reason, message: err.message }, 'rejected a Stripe webhook');
      sendJson(res, 400, { error: err.reason });
      return true;
    }

    const action = toPaymentAction(event);
    const ignored = action.kind === 'ignore' ? `ignored: ${action.reason}` : null;
    const em = deps.orm.em.fork();
    const inserted = await storeWebhookEvent(em, event, raw.toString('utf8'), ignored);
    const type = metricType(event.type);
    if (ignored) {
      deps.metrics.paymentWebhooks.inc({ result: inserted ? 'ignored' : 'duplicate', type });
      sendJson(res, 200, { received: true });
      return true;
    }
    let pending = inserted;
    if (!pending) {
      // Seen before. If it is still unapplied, queue it again: the first answer may have been lost
      // before it was queued. Within JetStream's duplicate window the same message id is dropped.
      pending = await isWebhookEventPending(em, event.id);
    }
    if (pending) {
      try {
        await queuePaymentEvent(deps.nats, event.type, event.id, event.id);
      } catch (err) {
        // Stored, so not lost: the webhook sweep queues it once NATS is back.
        deps.log.warn({ err, eventId: event.id }, 'could not queue a stored Stripe event; the sweep will');
      }
    }
    deps.metrics.paymentWebhooks.inc({ result: inserted ? 'accepted' : 'duplicate', type });
    sendJson(res, 200, { received: true });
    return true;
  };
}

/** Bounded label values: the handled types by name, everything else together. */
function metricType(type: string): string {
  return (HANDLED_EVENT_TYPES as readonly string[]).includes(type) ? type : 'other';
}
