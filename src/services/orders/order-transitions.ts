import type { NotificationKind } from '../../entities/notification.entity.js';
import type { Order, OrderStatus } from '../../entities/order.entity.js';
import type { Database, EntityManager } from '../../infra/database.js';
import type { DatabaseReads } from '../../infra/database-reads.js';
import type { LiveBus } from '../../infra/live-bus.js';
import type { StockVersion } from '../../infra/stock-gate.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import type { LiveTopics, OrderLive } from '../messages/live-topics.js';
import { addToOutbox, notificationIdFor } from '../messages/outbox.js';
import type { OrderTickets } from './order-tickets.js';
import { moveOrders, type MoveCondition } from './order.repository.js';

type Effect = () => Promise<void> | void;

export interface OrderTransitionsDeps {
  orm: Database;
  reads: DatabaseReads;
  stock: OrderTickets;
  live: LiveBus<LiveTopics>;
  metrics: Metrics;
  log: Logger;
}

/**
 * The one way an order changes status. `run` opens a transaction; inside it every transition is
 * one conditional update (moveOrders: `... where id in (?) and status in (?)`), so of two workers racing for
 * the same order exactly one wins, and the loser sees no row. The effects a transition implies
 * outside Postgres (the live message, Redis stock, metrics) are queued and run only after the
 * commit, so a rolled-back transition announces nothing.
 */
export class OrderTransitions {
  constructor(private readonly deps: OrderTransitionsDeps) {}

  async run<T>(work: (t: Transition) => Promise<T>): Promise<T> {
    const effects: Effect[] = [];
    const owners = new Set<string>();
    const result = await this.deps.orm.em
      .fork()
      .transactional((tx) => work(new Transition(tx, effects, owners, this.deps)));
    // Before the live messages: a buyer who reacts to one reads the change it announces.
    await this.deps.reads.wrote(owners);
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
    /** The owners of the orders moved, who must read the change after the commit (read-your-writes). */
    private readonly owners: Set<string>,
    private readonly deps: OrderTransitionsDeps,
  ) {}

  /**
   * Moves the orders that are still in `from` (and, with `expired`, whose hold has ended per
   * Postgres' clock; with `open`, whose hold has not) to `to`, and returns those it moved; the
   * live message and metric follow the commit.
   */
  async move(
    ids: readonly string[],
    from: readonly OrderStatus[],
    to: OrderStatus,
    where: MoveCondition = {},
  ): Promise<Order[]> {
    const orders = await moveOrders(this.tx, ids, from, to, where);
    for (const order of orders) {
      this.owners.add(order.userId);
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
  async cancel(ids: readonly string[], from: readonly OrderStatus[], where: MoveCondition = {}): Promise<Order[]> {
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

  /** Runs after the commit, with the other effects, in order. */
  afterCommit(effect: Effect): void {
    this.effects.push(effect);
  }
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
