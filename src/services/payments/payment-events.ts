import type { StripeEventLike } from '../../infra/payments/webhook-signature.js';

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

/** Money as an event states it, for comparison with the stored payment; null where it is absent. */
export interface ClaimedMoney {
  amount: number | null;
  currency: string | null;
}

/**
 * The amount and currency the event is about: the PaymentIntent's for `payment_intent.*`, the
 * charge's for `charge.refunded` (a charge's `amount` is what was captured, refunded or not).
 */
export function claimedMoney(event: Pick<StripeEventLike, 'data'>): ClaimedMoney {
  const { amount, currency } = event.data.object;
  return {
    amount: typeof amount === 'number' && Number.isInteger(amount) ? amount : null,
    currency: typeof currency === 'string' && currency.length > 0 ? currency.toUpperCase() : null,
  };
}

export interface MoneyMismatch {
  field: 'amount' | 'currency';
  reason: string;
}

/**
 * Why an event may not settle the payment stored as `stored`, or null when its money matches. A
 * valid signature proves who sent the event, not that it is about this payment's money: a
 * forged or misrouted event must not pay an order of 10 000 with 1.
 */
export function moneyMismatch(
  claimed: ClaimedMoney,
  stored: { amount: number; currency: string },
): MoneyMismatch | null {
  const currency = stored.currency.toUpperCase();
  if (claimed.amount === stored.amount && claimed.currency === currency) return null;
  const said = `${claimed.amount ?? '(none)'} ${claimed.currency ?? '(none)'}`;
  return {
    field: claimed.amount === stored.amount ? 'currency' : 'amount',
    reason: `amount ${said} does not match the payment (${stored.amount} ${currency})`,
  };
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
