import { Repeater } from '@repeaterjs/repeater';
import type { RequestContext } from '../../context.js';
import { Order, type OrderStatus } from '../../entities/order.entity.js';
import { NotFoundError } from '../../errors.js';
import type { DatabaseReads } from '../../infra/database-reads.js';
import type { LiveBus } from '../../infra/live-bus.js';
import { decodeCursor, encodeCursor, pageSize, type Page } from '../shared/cursor.js';
import { isUuid } from '../shared/validation.js';
import type { LiveTopics, OrderLive } from '../messages/live-topics.js';
import { OPEN_STATUSES } from './order-statuses.js';
import { ordersPage, plainOrder, readOrder } from './order.repository.js';

const ORDERS_CURSOR = 'orders';
const DEFAULT_PAGE_SIZE = 20;
const TICK_MS = 1000;

/** One tick of a payment countdown. */
export interface CountdownView {
  orderId: string;
  secondsLeft: number;
  status: OrderStatus;
}

/** Seconds until an open order's hold ends; 0 once it is paid, cancelled or past its time. */
export function secondsLeft(order: Pick<Order, 'status' | 'expiresAt'>, now = Date.now()): number {
  if (!OPEN_STATUSES.includes(order.status)) return 0;
  return Math.max(0, Math.ceil((order.expiresAt.getTime() - now) / 1000));
}

/** Orders as their owners see them. A buyer sees only their own orders. */
export class OrderService {
  constructor(
    private readonly live: LiveBus<LiveTopics>,
    private readonly reads: DatabaseReads,
  ) {}

  /** The caller's order, or null (unknown ids and other users' orders look the same). */
  async get(ctx: RequestContext, id: string): Promise<Order | null> {
    if (!ctx.user || !isUuid(id)) return null;
    const order = await ctx.loaders.order.load(id);
    return order && order.userId === ctx.user.id ? order : null;
  }

  /**
   * The caller's orders, newest first, with keyset cursors (Postgres' own timestamp text, so no
   * precision is lost). Order history: from the replica when there is one, except while it has not
   * replayed the caller's last write (a booking, a payment), so a new order always shows.
   */
  async list(ctx: RequestContext, args: { first?: number | null; after?: string | null }): Promise<Page<Order>> {
    const userId = ctx.user!.id;
    const limit = pageSize(args.first ?? DEFAULT_PAGE_SIZE);
    const after = args.after ? decodeCursor(ORDERS_CURSOR, args.after, ['timestamp', 'uuid']) : null;
    const [rows, totalCount] = await this.reads.stale(userId, (em) =>
      Promise.all([
        ordersPage(em, userId, limit + 1, after ? { createdAt: after[0]!, id: after[1]! } : null),
        em.count(Order, { userId }),
      ]),
    );
    return {
      hasNextPage: rows.length > limit,
      totalCount,
      items: rows.slice(0, limit).map(({ order, sortCreatedAt }) => ({
        cursor: encodeCursor(ORDERS_CURSOR, [sortCreatedAt, order.id]),
        node: order,
      })),
    };
  }

  /**
   * The caller's order now, then again after every status change, from whichever process made it.
   * Live messages carry the status and times; the rest of an order never changes, so no message
   * costs a database read. A message older than what was sent (they can overtake each other) is
   * dropped. Never completes on its own: even a settled order can still be refunded.
   */
  updates(ctx: RequestContext, id: string): AsyncIterableIterator<Order> {
    return new Repeater<Order>(async (push, stop) => {
      let current: Order | null = null;
      const early: OrderLive[] = [];
      const onMessage = (msg: OrderLive) => {
        if (!current) return void early.push(msg);
        const next = this.newer(current, msg);
        if (next) void push((current = next));
      };
      // Listen before reading, so a change committed in between is not missed.
      const unlisten = this.live.listen('order', id, onMessage);
      try {
        const order = await this.get(ctx, id);
        if (!order) throw new NotFoundError('No such order');
        current = order;
        await push(order);
        for (const msg of early.splice(0)) onMessage(msg);
        await stop;
      } finally {
        unlisten();
      }
    });
  }

  /**
   * A tick a second while the hold runs: seconds left (from expiresAt; the server clock is fine for
   * a display) and the status; a status change is sent at once. When the order leaves
   * UNPAID/PAYING/FAILED, the final status is sent and the feed completes. Once the time is up
   * the order is re-read each tick, so a lost live message cannot keep the countdown open.
   */
  countdown(ctx: RequestContext, orderId: string): AsyncIterableIterator<CountdownView> {
    return new Repeater<CountdownView>(async (push, stop) => {
      let current: Order | null = null;
      let wake: () => void = () => undefined;
      const unlisten = this.live.listen('order', orderId, (msg) => {
        const next = current && this.newer(current, msg);
        if (next) {
          current = next;
          wake();
        }
      });
      let stopped = false;
      void stop.then(() => {
        stopped = true;
        wake();
      });
      try {
        const order = await this.get(ctx, orderId);
        if (!order) throw new NotFoundError('No such order');
        current = order;
        for (;;) {
          const shown: Order = current;
          await push({ orderId, secondsLeft: secondsLeft(shown), status: shown.status });
          if (!OPEN_STATUSES.includes(shown.status) || stopped) break;
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, TICK_MS);
          });
          if (stopped) break;
          if (current === shown && secondsLeft(shown) === 0) current = (await readOrder(ctx.em, orderId)) ?? shown;
        }
      } finally {
        unlisten();
      }
      stop();
    });
  }

  /** The order with the message applied if the message is newer than what the order shows; else null. */
  private newer(order: Order, msg: OrderLive): Order | null {
    const at = Date.parse(msg.updatedAt);
    const known = new Date(order.updatedAt).getTime();
    if (at < known || (at === known && msg.status === order.status)) return null;
    return plainOrder(order, {
      status: msg.status,
      expiresAt: new Date(msg.expiresAt),
      updatedAt: new Date(msg.updatedAt),
    });
  }
}
