import type { RequestContext } from '../context.js';
import { Order } from '../entities/order.entity.js';
import { decodeCursor, encodeCursor, pageSize, type Page } from './cursor.js';
import { isUuid } from './event.service.js';

const ORDERS_CURSOR = 'orders';
const DEFAULT_PAGE_SIZE = 20;

/** Orders as their owners see them. A buyer sees only their own orders. */
export class OrderService {
  /** The caller's order, or null (unknown ids and other users' orders look the same). */
  async get(ctx: RequestContext, id: string): Promise<Order | null> {
    if (!ctx.user || !isUuid(id)) return null;
    const order = await ctx.loaders.order.load(id);
    return order && order.userId === ctx.user.id ? order : null;
  }

  /** The caller's orders, newest first, with keyset cursors (Postgres' own timestamp text, so no precision is lost). */
  async list(ctx: RequestContext, args: { first?: number | null; after?: string | null }): Promise<Page<Order>> {
    const userId = ctx.user!.id;
    const limit = pageSize(args.first ?? DEFAULT_PAGE_SIZE);
    const params: unknown[] = [userId];
    let keyset = 'true';
    if (args.after) {
      const [createdAt, id] = decodeCursor(ORDERS_CURSOR, args.after, 2);
      keyset = '(o.created_at, o.id) < (?::timestamptz, ?::uuid)';
      params.push(createdAt, id);
    }
    params.push(limit + 1);
    const [rows, totalCount] = await Promise.all([
      ctx.em.execute<({ sort_created_at: string } & Record<string, unknown>)[]>(
        `select o.*, o.created_at::text as sort_created_at from orders o
         where o.user_id = ? and ${keyset} order by o.created_at desc, o.id desc limit ?`,
        params,
      ),
      ctx.em.count(Order, { userId }),
    ]);
    return {
      hasNextPage: rows.length > limit,
      totalCount,
      items: rows.slice(0, limit).map((row) => {
        const order = ctx.em.map(Order, row);
        return { cursor: encodeCursor(ORDERS_CURSOR, [row.sort_created_at, order.id]), node: order };
      }),
    };
  }
}
