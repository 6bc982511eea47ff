import type { StripeEventLike } from '../infra/payments/webhook-signature.js';

/**
 * What a verified provider event means to us: a pure mapping from Stripe's event types to the few
 * actions the payment rules know, with an explicit default for everything else (acknowledged and
 * ignored). The webhook route uses it to decide what to enqueue; the payment worker maps the stored
 * event again, so Postgres stays the one record of what arrived.
 */
export type PaymentAction =
  | { kind: 'succeeded'; intentId: string; orderId: string | null }
  | { kind: 'failed'; intentId: string; orderId: string | null; reason: string | null }
  | { kind: 'canceled'; intentId: string; orderId: string | null }
  /** `full`: the whole amount is back with the buyer (a partial refund changes no order). */
  | { kind: 'refunded'; intentId: string; orderId: string | null; full: boolean }
  | { kind: 'ignore'; reason: string };

export type PaymentActionKind = PaymentAction['kind'];

/** The event types a Stripe webhook endpoint for this app should subscribe to. */
export const HANDLED_EVENT_TYPES = [
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
  'payment_intent.canceled',
  'charge.refunded',
] as const;

export function toPaymentAction(event: Pick<StripeEventLike, 'type' | 'data'>): PaymentAction {
  const object = event.data.object;
  switch (event.type) {
    case 'payment_intent.succeeded':
    case 'payment_intent.payment_failed':
    case 'payment_intent.canceled': {
      const intentId = text(object['id']);
      if (!intentId) return { kind: 'ignore', reason: `${event.type} without a payment intent id` };
      const orderId = orderIdOf(object);
      if (event.type === 'payment_intent.succeeded') return { kind: 'succeeded', intentId, orderId };
      if (event.type === 'payment_intent.canceled') return { kind: 'canceled', intentId, orderId };
      return { kind: 'failed', intentId, orderId, reason: failureReason(object) };
    }
    case 'charge.refunded': {
      // `payment_intent` is an id, or the whole intent when the event was expanded.
      const pi = object['payment_intent'];
      const intentId = text(pi) ?? (isRecord(pi) ? text(pi['id']) : null);
      if (!intentId) return { kind: 'ignore', reason: 'charge.refunded for a charge without a payment intent' };
      const amount = Number(object['amount']);
      const refunded = Number(object['amount_refunded']);
      const full = object['refunded'] === true || (Number.isFinite(amount) && amount > 0 && refunded >= amount);
      return { kind: 'refunded', intentId, orderId: orderIdOf(object), full };
    }
    default:
      return { kind: 'ignore', reason: `unsupported event type ${event.type}` };
  }
}

/** The order named in the object's metadata (Stripe copies an intent's metadata onto its charges). */
function orderIdOf(object: Record<string, unknown>): string | null {
  const metadata = object['metadata'];
  return isRecord(metadata) ? text(metadata['orderId']) : null;
}

function failureReason(object: Record<string, unknown>): string | null {
  const error = object['last_payment_error'];
  if (!isRecord(error)) return null;
  return text(error['decline_code']) ?? text(error['code']) ?? text(error['message']);
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
