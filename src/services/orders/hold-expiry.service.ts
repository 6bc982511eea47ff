import type { Database } from '../../infra/database.js';
import type { Logger } from '../../logger.js';
import { UNPAID_STATUSES } from './order-statuses.js';
import type { OrderTransitions } from './order-transitions.js';
import { lockOverdueUnpaid, overduePayingIds, overduePayingPage, unpaidOpenOrders } from './order.repository.js';
import type { PaymentSettlement } from '../payments/payment-settlement.service.js';

export interface ExpiryResult {
  cancelled: number;
  /** PAYING orders whose intent the provider could not cancel yet (e.g. `processing`): try again later. */
  pending: string[];
}

/**
 * The end of holds: reminders shortly before, cancellation when they run out (tickets back to
 * stock in the same transaction, a notification, then Redis and live counts), by the delayed
 * expiry job of each booking batch and by the sweep that catches whatever a lost job missed.
 * Whether a hold has ended is always Postgres' `now()`, never a worker's clock.
 */
export class HoldExpiry {
  constructor(
    private readonly deps: {
      orm: Database;
      transitions: OrderTransitions;
      settlement: PaymentSettlement;
      log: Logger;
    },
  ) {}

  /**
   * HOLD_EXPIRING for the orders still unpaid whose hold is still running. The notification id is
   * derived from (order, kind), so repeating this (a redelivered job) notifies once.
   */
  async remind(orderIds: readonly string[]): Promise<number> {
    if (orderIds.length === 0) return 0;
    return this.deps.transitions.run(async (t) => {
      const orders = await unpaidOpenOrders(t.tx, orderIds);
      for (const order of orders) t.notify(order, 'HOLD_EXPIRING');
      return orders.length;
    });
  }

  /** Ends the holds among these orders that have run out; the others are left alone. */
  async expire(orderIds: readonly string[]): Promise<ExpiryResult> {
    if (orderIds.length === 0) return { cancelled: 0, pending: [] };
    const cancelled = await this.deps.transitions.run(async (t) => {
      const cancelled = await t.cancel(orderIds, UNPAID_STATUSES, { expired: true });
      return cancelled.map((o) => o.id);
    });
    await this.deps.settlement.cancelIntentsOf(cancelled);
    const paying = await overduePayingIds(this.deps.orm.em.fork(), orderIds);
    const result = await this.cancelPaying(paying);
    return { cancelled: cancelled.length + result.cancelled, pending: result.pending };
  }

  /**
   * The safety net for unpaid holds: every one that has ended, in batches, one statement each.
   * Rows another transaction holds (an expiry job, a payment) are skipped and left to it.
   */
  async sweepUnpaid(batchSize = 500): Promise<number> {
    let cancelled = 0;
    for (;;) {
      const { seen, moved } = await this.deps.transitions.run(async (t) => {
        const ids = await lockOverdueUnpaid(t.tx, batchSize);
        const orders = await t.cancel(ids, UNPAID_STATUSES, { expired: true });
        return { seen: ids.length, moved: orders.map((o) => o.id) };
      });
      await this.deps.settlement.cancelIntentsOf(moved);
      cancelled += moved.length;
      if (seen < batchSize) return cancelled;
    }
  }

  /**
   * The safety net for PAYING orders whose hold has ended, page by page: each costs a call to the
   * provider, and one the provider cannot cancel yet (or whose row another transaction holds)
   * must not keep the ones behind it waiting. Kept apart from `sweepUnpaid` (its own round), so
   * slow provider calls never hold up the end of unpaid holds.
   */
  async sweepPaying(batchSize = 500): Promise<ExpiryResult> {
    const result: ExpiryResult = { cancelled: 0, pending: [] };
    let after: { expiresAt: string; id: string } | null = null;
    for (;;) {
      const page = await overduePayingPage(this.deps.orm.em.fork(), after, batchSize);
      const paid = await this.cancelPaying(page.map((r) => r.id));
      result.cancelled += paid.cancelled;
      result.pending.push(...paid.pending);
      const last = page.at(-1);
      if (!last || page.length < batchSize) return result;
      after = { expiresAt: last.expires_at, id: last.id };
    }
  }

  private async cancelPaying(ids: string[]): Promise<ExpiryResult> {
    const result: ExpiryResult = { cancelled: 0, pending: [] };
    for (const id of ids) {
      try {
        const outcome = await this.deps.settlement.cancelPaying(id, { expired: true });
        if (outcome === 'cancelled') result.cancelled += 1;
        if (outcome === 'pending') result.pending.push(id);
      } catch (err) {
        // The provider is unreachable: this order waits for the next try, the others go on.
        this.deps.log.warn({ err, orderId: id }, 'could not cancel the payment intent of an expired order');
        result.pending.push(id);
      }
    }
    return result;
  }
}
