import { randomUUID } from 'node:crypto';
import type { Order } from '../../entities/order.entity.js';
import { UnavailableError } from '../../errors.js';
import type { Database } from '../../infra/database.js';
import type { PaymentGateway } from '../../infra/payments/payment-gateway.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import { OPEN_STATUSES } from '../orders/order-statuses.js';
import { lockOrderUnlessHeld, readOrder } from '../orders/order.repository.js';
import type { OrderTransitions, Transition } from '../orders/order-transitions.js';
import { paymentBy, setPaymentStatus, unsettledIntents, type PaymentRef } from './payment.repository.js';
import { claimWebhookEvent, finishWebhookEvent, storedWebhookEvent } from './webhook-event.repository.js';
import { claimedMoney, moneyMismatch, toPaymentAction } from './payment-events.js';
import { planPayment, type PaymentPlan } from './payment-rules.js';
import type { OrderTickets } from '../orders/order-tickets.js';

export type ApplyResult =
  /** `refused`: signed, but its amount or currency is not the stored payment's; recorded, not applied. */
  | { result: 'applied' | 'ignored' | 'refused'; outcome: string }
  /** Applied before (a redelivery, a re-publish by the sweep, or a concurrent worker). */
  | { result: 'duplicate' }
  /** No such stored event: the message cannot be applied, ever. */
  | { result: 'missing' };

/** What cancelling a PAYING order's intent at the provider led to. */
export type CancelPayingResult = 'cancelled' | 'succeeded' | 'pending' | 'changed';

/** The order moved between reading and updating it: read and plan again. Rolls the transaction back. */
class OrderChanged extends Error {}
/** Redis had the tickets for a retake but Postgres did not. Rolls the transaction back. */
class NoStock extends Error {}

/** Re-plans after a lost race are rare; a few in a row mean something keeps moving the order. */
const MAX_PLANS = 5;

export interface PaymentSettlementDeps {
  orm: Database;
  gateway: PaymentGateway;
  transitions: OrderTransitions;
  stock: OrderTickets;
  metrics: Metrics;
  log: Logger;
}

/**
 * Applies what the payment provider says to orders, once: events from the webhook (through the
 * payment worker), and the answers to our own cancellations at hold expiry. Every step that moves
 * an order, its payment row, its tickets and its notification is one transaction; calls to the
 * provider (refunds, cancellations) happen before it, with idempotency keys, so a crash between
 * the call and the commit repeats the call harmlessly.
 */
export class PaymentSettlement {
  constructor(private readonly deps: PaymentSettlementDeps) {}

  /** Applies a stored webhook event. Throws on a passing fault (the caller retries later). */
  async applyEvent(eventId: string): Promise<ApplyResult> {
    const row = await storedWebhookEvent(this.deps.orm.em.fork(), eventId);
    if (!row) return { result: 'missing' };
    if (row.processed) return { result: 'duplicate' };
    const action = toPaymentAction(row.payload);
    if (action.kind === 'ignore') return this.ignore(eventId, action.reason);

    for (let i = 0; i < MAX_PLANS; i += 1) {
      const payment = await this.paymentByIntent(action.intentId);
      const order = payment ? await readOrder(this.deps.orm.em, payment.orderId) : null;
      if (!payment || !order) return this.ignore(eventId, `unknown payment intent ${action.intentId}`);
      const mismatch = moneyMismatch(claimedMoney(row.payload), payment);
      if (mismatch) {
        const refused = await this.finish(eventId, 'refused', `refused: ${mismatch.reason}`);
        // Counted and logged once, by the worker that recorded it (not by a concurrent duplicate).
        if (refused.result === 'refused') {
          this.deps.metrics.paymentEventMismatches.inc({ field: mismatch.field });
          this.deps.log.warn(
            { eventId, type: row.payload.type, intent: action.intentId, order: order.id, reason: mismatch.reason },
            'refused a signed payment event whose money does not match the stored payment',
          );
        }
        return refused;
      }
      if (action.orderId && action.orderId !== order.id) {
        this.deps.log.warn(
          { eventId, intent: action.intentId, metadataOrder: action.orderId, order: order.id },
          'intent metadata names another order; the payments table wins',
        );
      }
      const reason = action.kind === 'failed' ? action.reason : null;
      const result = await this.apply(eventId, planPayment(action, order.status), order, payment, reason);
      if (result) return result;
    }
    throw new Error(`order of intent ${action.intentId} kept changing while event ${eventId} was applied`);
  }

  /**
   * Cancels a PAYING order's intent at the provider, then the order: `canceled` → CANCELLED with
   * its tickets back; `already_succeeded` → the money arrived first, the order succeeds (its
   * succeeded webhook will find it settled); `not_cancelable` (e.g. `processing`) → pending, try
   * again later. With `expired`, only an order whose hold has ended is cancelled, and one whose
   * row another transaction holds is `pending`.
   */
  async cancelPaying(orderId: string, opts: { expired: boolean }): Promise<CancelPayingResult> {
    const order = await readOrder(this.deps.orm.em, orderId);
    // Still open: a failure webhook may have moved PAYING to FAILED meanwhile, which is ended the same way.
    if (!order || !OPEN_STATUSES.includes(order.status)) return 'changed';
    const payment = await this.paymentByOrder(orderId);
    if (payment) {
      // Cancelling is idempotent at the provider; a fresh key per attempt keeps a replayed
      // "still processing" answer from hiding a later change.
      let cancel;
      try {
        cancel = await this.deps.gateway.cancelIntent(payment.intentId, `cancel-${orderId}-${randomUUID()}`);
      } catch (err) {
        this.deps.log.warn({ err, orderId }, 'could not cancel a payment intent');
        throw new UnavailableError('The payment provider is unavailable; the order is unchanged, try again shortly');
      }
      if (cancel.outcome === 'not_cancelable') return 'pending';
      if (cancel.outcome === 'already_succeeded') {
        const paid = await this.deps.transitions.run(async (t) => {
          // The money is in: whatever open status the order reached meanwhile, it succeeds.
          const [moved] = await t.move([orderId], OPEN_STATUSES, 'SUCCEEDED');
          if (!moved) return false;
          await setPaymentStatus(t.tx, orderId, 'succeeded');
          t.notify(moved, 'ORDER_SUCCEEDED');
          return true;
        });
        return paid ? 'succeeded' : 'changed';
      }
    }
    return this.deps.transitions.run<CancelPayingResult>(async (t) => {
      // At expiry, a row another transaction holds (a webhook settling it, another expiry path
      // cancelling it) is left to it and tried again later: waiting for it would hold up every
      // expiry behind this one for up to the lock timeout.
      if (opts.expired && !(await lockOrderUnlessHeld(t.tx, orderId))) return 'pending';
      // The intent is cancelled now, so whatever open status the order reached meanwhile ends too.
      const [cancelled] = await t.cancel([orderId], OPEN_STATUSES, { expired: opts.expired });
      if (!cancelled) return 'changed';
      await setPaymentStatus(t.tx, orderId, 'canceled');
      return 'cancelled';
    });
  }

  /**
   * Best effort, after these orders were cancelled: their intents (a FAILED order still has one
   * that can be paid) are cancelled at the provider, so a late confirmation is refused there
   * instead of charged and refunded (Stripe keeps its fee on a refund). If one was paid meanwhile,
   * its succeeded webhook settles the order (tickets taken again, or refunded).
   */
  async cancelIntentsOf(orderIds: readonly string[]): Promise<void> {
    if (orderIds.length === 0) return;
    const open = await unsettledIntents(this.deps.orm.em.fork(), orderIds);
    for (const { order_id: orderId, intent_id: intentId } of open) {
      try {
        const result = await this.deps.gateway.cancelIntent(intentId, `cancel-${orderId}-${randomUUID()}`);
        if (result.outcome === 'canceled') {
          await setPaymentStatus(this.deps.orm.em.fork(), orderId, 'canceled');
        }
      } catch (err) {
        this.deps.log.warn({ err, orderId, intentId }, 'could not cancel the intent of a cancelled order');
      }
    }
  }

  async paymentByOrder(orderId: string): Promise<PaymentRef | null> {
    return paymentBy(this.deps.orm.em.fork(), 'order_id', orderId);
  }

  private paymentByIntent(intentId: string): Promise<PaymentRef | null> {
    return paymentBy(this.deps.orm.em.fork(), 'intent_id', intentId);
  }

  /** Null when the order changed under the plan (plan again). */
  private async apply(
    eventId: string,
    plan: PaymentPlan,
    order: Order,
    payment: PaymentRef,
    reason: string | null,
  ): Promise<ApplyResult | null> {
    switch (plan.kind) {
      case 'ignore':
        return this.ignore(
          eventId,
          plan.reason,
          plan.paymentStatus ? { orderId: order.id, status: plan.paymentStatus } : undefined,
        );
      case 'succeed':
        return this.inTx(eventId, (t) => this.succeed(t, order));
      case 'fail':
        return this.inTx(eventId, async (t) => {
          await this.moveOne(t, order, 'FAILED');
          await setPaymentStatus(t.tx, order.id, 'requires_payment_method');
          return `FAILED (${reason ?? 'payment failed'})`;
        });
      case 'cancel':
        return this.inTx(eventId, async (t) => {
          // The conditional update from exactly the status the plan was made for.
          const [cancelled] = await t.cancel([order.id], [order.status]);
          if (!cancelled) throw new OrderChanged();
          await setPaymentStatus(t.tx, order.id, 'canceled');
          return 'CANCELLED (intent cancelled at the provider)';
        });
      case 'refund':
        return this.inTx(eventId, async (t) => {
          const moved = await this.moveOne(t, order, 'REFUNDED');
          if (plan.releaseTickets) await t.release([moved]);
          await setPaymentStatus(t.tx, order.id, 'refunded');
          t.notify(moved, 'ORDER_REFUNDED');
          return `REFUNDED (refunded at the provider, order was ${order.status})`;
        });
      case 'partial_refund':
        return this.inTx(eventId, async (t) => {
          await setPaymentStatus(t.tx, order.id, 'partially_refunded');
          return 'partial refund noted; order unchanged';
        });
      case 'retake_or_refund':
        return this.retakeOrRefund(eventId, order, payment);
    }
  }

  /**
   * Money arrived for a CANCELLED order. Its tickets are taken again through the same gate as a
   * booking (stock and the buyer's limit), and Postgres has the last word; if either says no,
   * the payment is refunded (key `refund-<orderId>`, so a retry never refunds twice) and the
   * order ends REFUNDED.
   */
  private async retakeOrRefund(eventId: string, order: Order, payment: PaymentRef): Promise<ApplyResult | null> {
    const { stock } = this.deps;
    if (await stock.reserveAgain(order)) {
      let attempt: { kind: 'duplicate' } | { kind: 'retaken' } | { kind: 'no_stock' };
      try {
        attempt = await this.deps.transitions.run(async (t) => {
          if (!(await claimWebhookEvent(t.tx, eventId))) return { kind: 'duplicate' } as const;
          // Order row first, stock row second: the lock order of every other order transition.
          const moved = await this.moveOne(t, order, 'SUCCEEDED');
          const pg = await t.retake(order);
          if (!pg) throw new NoStock();
          await setPaymentStatus(t.tx, order.id, 'succeeded');
          t.notify(moved, 'ORDER_SUCCEEDED');
          await finishWebhookEvent(t.tx, eventId, 'applied: SUCCEEDED after cancellation (tickets taken again)');
          t.afterCommit(() => stock.settleRetake(order, pg, pg));
          return { kind: 'retaken' } as const;
        });
      } catch (err) {
        if (err instanceof NoStock) {
          attempt = { kind: 'no_stock' };
        } else {
          if (!(err instanceof OrderChanged)) throw err; // keep the gate's reservation for the retry
          await stock.settleRetake(order, null, await this.currentStock(order.eventId));
          return null;
        }
      }
      if (attempt.kind === 'duplicate') return { result: 'duplicate' };
      if (attempt.kind === 'retaken') {
        return { result: 'applied', outcome: 'SUCCEEDED after cancellation (tickets taken again)' };
      }
      // Redis had a ticket but Postgres did not: tell the gate, then refund.
      await stock.settleRetake(order, null, await this.currentStock(order.eventId));
    }
    const refund = await this.deps.gateway.refund(payment.intentId, `refund-${order.id}`);
    return this.inTx(eventId, async (t) => {
      const moved = await this.moveOne(t, order, 'REFUNDED');
      await setPaymentStatus(t.tx, order.id, refund.status === 'succeeded' ? 'refunded' : 'refund_pending', refund.id);
      t.notify(moved, 'ORDER_REFUNDED');
      return 'REFUNDED (paid after cancellation; no tickets left)';
    });
  }

  private async succeed(t: Transition, order: Order): Promise<string> {
    const moved = await this.moveOne(t, order, 'SUCCEEDED');
    await setPaymentStatus(t.tx, order.id, 'succeeded');
    t.notify(moved, 'ORDER_SUCCEEDED');
    return 'SUCCEEDED';
  }

  /** The conditional update from exactly the status the plan was made for. */
  private async moveOne(t: Transition, order: Order, to: Order['status']): Promise<Order> {
    const [moved] = await t.move([order.id], [order.status], to);
    if (!moved) throw new OrderChanged();
    return moved;
  }

  /**
   * One transaction: claims the event, does `work`, marks the event applied
   * with what it did. Null when the order changed meanwhile (everything rolled back).
   */
  private async inTx(eventId: string, work: (t: Transition) => Promise<string>): Promise<ApplyResult | null> {
    try {
      return await this.deps.transitions.run(async (t) => {
        if (!(await claimWebhookEvent(t.tx, eventId))) return { result: 'duplicate' } as const;
        const outcome = await work(t);
        await finishWebhookEvent(t.tx, eventId, `applied: ${outcome}`);
        return { result: 'applied', outcome } as const;
      });
    } catch (err) {
      if (err instanceof OrderChanged) return null;
      throw err;
    }
  }

  private ignore(eventId: string, reason: string, payment?: { orderId: string; status: string }): Promise<ApplyResult> {
    return this.finish(eventId, 'ignored', `ignored: ${reason}`, payment);
  }

  /** Marks the event done with `outcome` without moving its order (maybe noting the payment's status). */
  private async finish(
    eventId: string,
    result: 'ignored' | 'refused',
    outcome: string,
    payment?: { orderId: string; status: string },
  ): Promise<ApplyResult> {
    return this.deps.transitions.run(async (t) => {
      if (!(await claimWebhookEvent(t.tx, eventId))) return { result: 'duplicate' } as const;
      if (payment) await setPaymentStatus(t.tx, payment.orderId, payment.status);
      await finishWebhookEvent(t.tx, eventId, outcome);
      return { result, outcome } as const;
    });
  }

  private async currentStock(eventId: string) {
    return this.deps.stock.current(this.deps.orm.em.fork(), eventId);
  }
}
