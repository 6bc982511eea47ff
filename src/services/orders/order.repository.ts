import { Order, type OrderStatus } from '../../entities/order.entity.js';
import { insertRows, type EntityManager } from '../../infra/database.js';
import { HOLDING_STATUSES, statusList, UNPAID_STATUSES } from './order-statuses.js';

/**
 * Every SQL statement about orders. Orders read here are plain objects (see plainOrder), so no
 * EntityManager will ever flush them back: an order changes status only through moveOrders.
 */

/** The columns of an order, as a plain object. */
export type OrderFields = Pick<
  Order,
  | 'id'
  | 'bookingId'
  | 'userId'
  | 'eventId'
  | 'quantity'
  | 'amount'
  | 'currency'
  | 'status'
  | 'expiresAt'
  | 'createdAt'
  | 'updatedAt'
>;

/** The one place an Order is built by hand: `order` with `changes` applied, detached from any EntityManager. */
export function plainOrder(order: OrderFields, changes: Partial<OrderFields> = {}): Order {
  const o = { ...pick(order), ...changes };
  return Object.assign(new Order(), pick(o));
}

function pick(o: OrderFields): OrderFields {
  return {
    id: o.id,
    bookingId: o.bookingId,
    userId: o.userId,
    eventId: o.eventId,
    quantity: o.quantity,
    amount: o.amount,
    currency: o.currency,
    status: o.status,
    expiresAt: o.expiresAt,
    createdAt: o.createdAt,
    updatedAt: o.updatedAt,
  };
}

/** An order from a raw `orders` row. */
function orderFromRow(row: Record<string, unknown>): Order {
  return plainOrder({
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

/** The user's order with whether its hold still runs by Postgres' clock, or null when it is not theirs. */
export async function ownOrder(
  em: EntityManager,
  orderId: string,
  userId: string,
): Promise<{ order: Order; holdOpen: boolean } | null> {
  const [row] = await em
    .fork()
    .execute<(Record<string, unknown> & { hold_open: boolean })[]>(
      `select *, expires_at > now() as hold_open from orders where id = ? and user_id = ?`,
      [orderId, userId],
    );
  return row ? { order: orderFromRow(row), holdOpen: row.hold_open } : null;
}

/** What moveOrders may additionally require of the orders it moves. */
export interface MoveCondition {
  /** Only orders whose hold has ended (Postgres' clock). */
  expired?: boolean;
  /** Only orders whose hold still runs. */
  open?: boolean;
  userId?: string;
}

/**
 * One conditional update: the orders still in `from` (and matching `where`) move to `to`; returns
 * those it moved. `updated_at` is the statement's clock, not the transaction's, so a later
 * transition of the same order always carries a later time (subscribers order updates by it).
 */
export async function moveOrders(
  tx: EntityManager,
  ids: readonly string[],
  from: readonly OrderStatus[],
  to: OrderStatus,
  where: MoveCondition = {},
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
  const rows = await tx.execute<Record<string, unknown>[]>(
    `update orders set status = ?, updated_at = clock_timestamp()
       where ${conditions.join(' and ')}
       returning *`,
    params,
  );
  return rows.map(orderFromRow);
}

/** New orders (of one booking batch), one statement. */
export async function insertOrders(tx: EntityManager, orders: readonly OrderFields[]): Promise<void> {
  if (orders.length === 0) return;
  await insertRows(
    tx,
    'orders',
    orders.map((o) => ({
      id: o.id,
      booking_id: o.bookingId,
      user_id: o.userId,
      event_id: o.eventId,
      quantity: o.quantity,
      amount: o.amount,
      currency: o.currency,
      status: o.status,
      expires_at: o.expiresAt,
      created_at: o.createdAt,
      updated_at: o.updatedAt,
    })),
  );
}

/** The user's orders, newest first, after the keyset `after`; `limit` rows at most, with the sort key as text. */
export async function ordersPage(
  em: EntityManager,
  userId: string,
  limit: number,
  after: { createdAt: string; id: string } | null,
): Promise<{ order: Order; sortCreatedAt: string }[]> {
  const params: unknown[] = [userId];
  let keyset = 'true';
  if (after) {
    keyset = '(o.created_at, o.id) < (?::timestamptz, ?::uuid)';
    params.push(after.createdAt, after.id);
  }
  params.push(limit);
  const rows = await em.execute<({ sort_created_at: string } & Record<string, unknown>)[]>(
    `select o.*, o.created_at::text as sort_created_at from orders o
         where o.user_id = ? and ${keyset} order by o.created_at desc, o.id desc limit ?`,
    params,
  );
  return rows.map((row) => ({ order: em.map(Order, row), sortCreatedAt: row.sort_created_at }));
}

/** Of these orders, those still unpaid whose hold still runs. */
export async function unpaidOpenOrders(tx: EntityManager, ids: readonly string[]): Promise<Order[]> {
  const rows = await tx.execute<Record<string, unknown>[]>(
    `select * from orders where id in (?) and status in (?) and expires_at > now()`,
    [[...ids], [...UNPAID_STATUSES]],
  );
  return rows.map(orderFromRow);
}

/** Of these orders, the PAYING ones whose hold has ended. */
export async function overduePayingIds(em: EntityManager, ids: readonly string[]): Promise<string[]> {
  const rows = await em.execute<{ id: string }[]>(
    `select id from orders where id in (?) and status = 'PAYING' and expires_at <= now()`,
    [[...ids]],
  );
  return rows.map((r) => r.id);
}

/** Up to `limit` unpaid orders whose hold has ended, locked; rows another transaction holds are skipped. */
export async function lockOverdueUnpaid(tx: EntityManager, limit: number): Promise<string[]> {
  const rows = await tx.execute<{ id: string }[]>(
    `select id from orders where status in (?) and expires_at <= now()
           order by expires_at limit ? for update skip locked`,
    [[...UNPAID_STATUSES], limit],
  );
  return rows.map((r) => r.id);
}

/**
 * Locks the order's row unless another transaction holds it: false then, at once, instead of
 * waiting (up to `lock_timeout`) for a transaction that is settling or cancelling it already.
 */
export async function lockOrderUnlessHeld(tx: EntityManager, id: string): Promise<boolean> {
  const rows = await tx.execute<{ id: string }[]>(`select id from orders where id = ? for update skip locked`, [id]);
  return rows.length > 0;
}

/**
 * One page of overdue PAYING orders by (expires_at, id). The cursor keeps Postgres' microseconds
 * as text: a JS Date would round them to milliseconds.
 */
export function overduePayingPage(
  em: EntityManager,
  after: { expiresAt: string; id: string } | null,
  limit: number,
): Promise<{ id: string; expires_at: string }[]> {
  return em.execute<{ id: string; expires_at: string }[]>(
    `select id, expires_at::text as expires_at from orders where status = 'PAYING' and expires_at <= now()
         ${after ? 'and (expires_at, id) > (?::timestamptz, ?::uuid)' : ''} order by expires_at, id limit ?`,
    after ? [after.expiresAt, after.id, limit] : [limit],
  );
}

/** The buyers who hold tickets of the event. */
export async function holderIds(em: EntityManager, eventId: string): Promise<string[]> {
  const rows = await em.execute<{ user_id: string }[]>(
    `select distinct user_id from orders where event_id = ? and status in ${statusList(HOLDING_STATUSES)}`,
    [eventId],
  );
  return rows.map((r) => r.user_id);
}
