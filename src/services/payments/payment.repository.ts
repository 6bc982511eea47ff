import { randomUUID } from 'node:crypto';
import type { EntityManager } from '../../infra/database.js';

/** Every SQL statement about payments (`payments`, one row per order that was sent to pay). */

/** What a buyer's device needs to confirm the order's payment. */
export interface StoredPayment {
  provider: string;
  intent_id: string;
  client_secret: string;
}

/** The order's PaymentIntent as stored by payOrder, with the money it is for. */
export interface PaymentRef {
  orderId: string;
  intentId: string;
  amount: number;
  currency: string;
}

/** Statuses after which an intent can no longer be paid or cancelled. */
const SETTLED_PAYMENT_STATUSES = `('succeeded', 'canceled', 'refunded', 'refund_pending', 'partially_refunded')`;

export async function storedPayment(em: EntityManager, orderId: string): Promise<StoredPayment | null> {
  const [row] = await em.execute<StoredPayment[]>(
    `select provider, intent_id, client_secret from payments where order_id = ?`,
    [orderId],
  );
  return row ?? null;
}

/** Stores the order's intent; null when the order has one already (the unique order_id keeps one row). */
export async function insertPayment(
  em: EntityManager,
  payment: {
    orderId: string;
    provider: string;
    intentId: string;
    clientSecret: string;
    amount: number;
    currency: string;
    status: string;
  },
): Promise<StoredPayment | null> {
  const [inserted] = await em.execute<StoredPayment[]>(
    `insert into payments (id, order_id, provider, intent_id, client_secret, amount, currency, status)
       values (?, ?, ?, ?, ?, ?, ?, ?)
       on conflict (order_id) do nothing
       returning provider, intent_id, client_secret`,
    [
      randomUUID(),
      payment.orderId,
      payment.provider,
      payment.intentId,
      payment.clientSecret,
      payment.amount,
      payment.currency,
      payment.status,
    ],
  );
  return inserted ?? null;
}

/** The payment of an order, or of an intent. */
export async function paymentBy(
  em: EntityManager,
  column: 'order_id' | 'intent_id',
  value: string,
): Promise<PaymentRef | null> {
  const [row] = await em.execute<{ order_id: string; intent_id: string; amount: number; currency: string }[]>(
    `select order_id, intent_id, amount, currency from payments where ${column} = ?`,
    [value],
  );
  return row ? { orderId: row.order_id, intentId: row.intent_id, amount: row.amount, currency: row.currency } : null;
}

/** The intents of these orders that could still be paid (or cancelled). */
export function unsettledIntents(
  em: EntityManager,
  orderIds: readonly string[],
): Promise<{ order_id: string; intent_id: string }[]> {
  return em.execute<{ order_id: string; intent_id: string }[]>(
    `select order_id, intent_id from payments
       where order_id in (?) and status not in ${SETTLED_PAYMENT_STATUSES}`,
    [[...orderIds]],
  );
}

/** Records the provider's view of the payment (in the caller's transaction, next to the order change). */
export async function setPaymentStatus(
  em: EntityManager,
  orderId: string,
  status: string,
  refundId?: string,
): Promise<void> {
  await em.execute(
    `update payments set status = ?, refund_id = coalesce(?, refund_id), updated_at = now() where order_id = ?`,
    [status, refundId ?? null, orderId],
  );
}
