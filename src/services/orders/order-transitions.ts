import type { NotificationKind } from '../../entities/notification.entity.js';
import { Order, type OrderStatus } from '../../entities/order.entity.js';
import type { Database, EntityManager } from '../../infra/database.js';
import type { LiveBus } from '../../infra/live-bus.js';
import type { StockVersion } from '../../infra/stock-gate.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import type { LiveTopics, OrderLive } from '../messages/live-topics.js';
import { addToOutbox, notificationIdFor } from '../messages/outbox.js';
import type { OrderTickets } from './order-tickets.js';

/** Statuses in which the hold is running: the buyer may still pay, the tickets are held. */
export const OPEN_STATUSES: readonly OrderStatus[] = ['UNPAID', 'PAYING', 'FAILED'];

type Effect = () => Promise<void> | void;

export interface OrderTransitionsDeps {
  orm: Database;
  stock: OrderTickets;
  live: LiveBus<LiveTopics>;
  metrics: Metrics;
  log: Logger;
}

/**
 * The one way an order changes status. `run` opens a transaction; inside it every transition is
 * one conditional update (`... where id in (?) and status in (?)`), so of two workers racing for
 * the same order exactly one wins, and the loser sees no row. The effects a transition implies
 * outside Postgres (the live message, Redis stock, metrics) are queued and run only after the
 * commit, so a rolled-back transition announces nothing.
 */
export class OrderTransitions {
  constructor(private readonly deps: OrderTransitionsDeps) {}

  async run<T>(work: (t: Transition) => Promise<T>): Promise<T> {
    const effects: Effect[] = [];
    const result = await this.deps.orm.em.fork().transactional((tx) => work(new Transition(tx, effects, this.deps)));
    for (const effect of effects) {
      try {
        await effect();
      } catch (err) {
        // Postgres is already right; the stock sweep repairs Redis, and subscribers re-read on connect.
        this.deps.log.warn({ err }, 'an effect after an order transition failed');
      }
    }
    return result;
  }
}

/** What one transaction may do to orders. Created by `OrderTransitions.run` only. */
export class Transition {
  constructor(
    readonly tx: EntityManager,
    private readonly effects: Effect[],
    private readonly deps: OrderTransitionsDeps,
  ) {}

  /**
   * Moves the orders that are still in `from` (and, with `expired`, whose hold has ended per
   * Postgres' clock; with `open`, whose hold has not) to `to`, and returns those it moved.
   * `updated_at` is the statement's clock, not the transaction's, so a later transition of the
   * same order always carries a later time (subscribers order updates by it).
   */
  async move(
    ids: readonly string[],
    from: readonly OrderStatus[],
    to: OrderStatus,
    where: { expired?: boolean; open?: boolean; userId?: string } = {},
  ): Promise<Order[]> {
    if (ids.length === 0 || from.length === 0) return [];
    const conditions = ['id in (?)', 'status in (?)'];
    const params: unknown[] = [to, [...ids], [...from]];
    if (where.expired) conditions.push('expires_at <= now()');
    if (where.open) conditions.push('expires_at > now()');
    if (where.userId) {
      conditions.push('user_id = ?');
      params.push(where.userId);
    }
    const rows = await this.tx.execute<Record<string, unknown>[]>(
      `update orders set status = ?, updated_at = clock_timestamp()
       where ${conditions.join(' and ')}
       returning *`,
      params,
    );
    const orders = rows.map(orderFromRow);
    for (const order of orders) {
      const live = toOrderLive(order);
      this.effects.push(() => {
        this.deps.metrics.orderTransitions.inc({ status: to });
        this.deps.live.publish('order', order.id, live);
      });
    }
    return orders;
  }

  /**
   * Ends holds: the orders still in `from` (and matching `where`, as in `move`) become CANCELLED,
   * their tickets go back to stock and each buyer is told. Returns the orders it cancelled.
   */
  async cancel(
    ids: readonly string[],
    from: readonly OrderStatus[],
    where: Parameters<Transition['move']>[3] = {},
  ): Promise<Order[]> {
    const cancelled = await this.move(ids, from, 'CANCELLED', where);
    await this.release(cancelled);
    for (const order of cancelled) this.notify(order, 'ORDER_CANCELLED');
    return cancelled;
  }

  /** The orders' tickets go back to the stock rows now, and to Redis and live counts after the commit. */
  async release(orders: readonly Order[]): Promise<void> {
    if (orders.length === 0) return;
    const versions = await this.deps.stock.releaseInTx(this.tx, orders);
    this.effects.push(() => this.deps.stock.afterRelease(orders, versions));
  }

  /**
   * Takes a cancelled order's tickets from the stock row again (after `OrderTickets.reserveAgain`
   * said yes); null when Postgres has too few. The caller settles the gate after the transaction.
   */
  retake(order: Order): Promise<StockVersion | null> {
    return this.deps.stock.takeInTx(this.tx, order);
  }

  /** Asks for a notification, once per (order, kind) however often this runs. */
  notify(order: Order, kind: NotificationKind): void {
    addToOutbox(this.tx, 'notification', {
      notificationId: notificationIdFor(order.id, kind),
      kind,
      userId: order.userId,
      orderId: order.id,
    });
  }

  /** Records the provider's view of the payment next to the order change. */
  async paymentStatus(orderId: string, status: string, refundId?: string): Promise<void> {
    await this.tx.execute(
      `update payments set status = ?, refund_id = coalesce(?, refund_id), updated_at = now() where order_id = ?`,
      [status, refundId ?? null, orderId],
    );
  }

  /**
   * Locks a stored provider event for applying; false when it was applied already (by an earlier
   * delivery or a concurrent worker, which this waits for). Write nothing before claiming.
   */
  async claimEvent(eventId: string): Promise<boolean> {
    const [row] = await this.tx.execute<{ processed: boolean }[]>(
      `select processed_at is not null as processed from webhook_events where id = ? for update`,
      [eventId],
    );
    return row !== undefined && !row.processed;
  }

  /** Marks a claimed event applied, in the same transaction as what applying it changed. */
  async finishEvent(eventId: string, outcome: string): Promise<void> {
    await this.tx.execute(`update webhook_events set processed_at = now(), outcome = ? where id = ?`, [
      outcome,
      eventId,
    ]);
  }

  /** Runs after the commit, with the other effects, in order. */
  afterCommit(effect: Effect): void {
    this.effects.push(effect);
  }
}

/** An order from a raw `orders` row; a plain object, so no EntityManager will ever flush it back. */
export function orderFromRow(row: Record<string, unknown>): Order {
  return Object.assign(new Order(), {
    id: row['id'] as string,
    bookingId: row['booking_id'] as string,
    userId: row['user_id'] as string,
    eventId: row['event_id'] as string,
    quantity: Number(row['quantity']),
    amount: Number(row['amount']),
    currency: row['currency'] as string,
    status: row['status'] as OrderStatus,
    expiresAt: new Date(row['expires_at'] as Date),
    createdAt: new Date(row['created_at'] as Date),
    updatedAt: new Date(row['updated_at'] as Date),
  });
}

/** The order as it is in Postgres now (not from any identity map), or null. */
export async function readOrder(em: EntityManager, id: string): Promise<Order | null> {
  const [row] = await em.fork().execute<Record<string, unknown>[]>(`select * from orders where id = ?`, [id]);
  return row ? orderFromRow(row) : null;
}

function toOrderLive(order: Order): OrderLive {
  return {
    orderId: order.id,
    userId: order.userId,
    status: order.status,
    expiresAt: new Date(order.expiresAt).toISOString(),
    updatedAt: new Date(order.updatedAt).toISOString(),
  };
}
