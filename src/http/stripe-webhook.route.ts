import type { Database } from '../infra/database.js';
import type { Nats } from '../infra/nats.js';
import { verifyStripeWebhook, WebhookSignatureError } from '../infra/payments/webhook-signature.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { HANDLED_EVENT_TYPES } from '../services/payments/payment-events.js';
import { WebhookIntake } from '../services/payments/webhook-intake.service.js';
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
 * stored, when it fails) → WebhookIntake stores the event under its Stripe id and queues it for the
 * payment worker → 200, also for a repeated event id (which changes nothing).
 */
export function stripeWebhookRoute(deps: StripeWebhookDeps): Route {
  const intake = new WebhookIntake(deps);
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

    const result = await intake.receive(event, raw.toString('utf8'));
    deps.metrics.paymentWebhooks.inc({ result, type: metricType(event.type) });
    sendJson(res, 200, { received: true });
    return true;
  };
}

/** Bounded label values: the handled types by name, everything else together. */
function metricType(type: string): string {
  return (HANDLED_EVENT_TYPES as readonly string[]).includes(type) ? type : 'other';
}
