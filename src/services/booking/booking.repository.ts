import type { BookingRejection, BookingStatus } from '../../entities/booking.entity.js';
import { insertRows, type EntityManager } from '../../infra/database.js';
import type { BookingRequest } from '../messages/queue-messages.js';
import { OPEN_STATUSES, statusList } from '../orders/order-statuses.js';

/** Every SQL statement about bookings (`bookings`: one row per decided attempt, under its booking id). */

/** A booking Postgres decided earlier. */
export interface PriorBooking {
  eventId: string;
  /** The end of its order's hold while the order can still be paid. */
  openHoldEndsAt: Date | null;
  quantity: number;
  status: BookingStatus;
  reason: BookingRejection | null;
  orderId: string | null;
}

/** A decided booking as the sweep completes it in Redis. */
export interface DecidedBooking {
  id: string;
  user_id: string;
  event_id: string;
  status: 'RESERVED' | 'REJECTED';
  reason: string | null;
  order_id: string | null;
}

/** A decision to store: the attempt, its status, and its order when RESERVED. */
export interface NewBooking {
  request: BookingRequest;
  status: 'RESERVED' | 'REJECTED';
  reason: BookingRejection | null;
  orderId: string | null;
}

/** The bookings among these ids that Postgres decided already, with their order's open hold. */
export async function priorBookings(tx: EntityManager, ids: readonly string[]): Promise<Map<string, PriorBooking>> {
  if (ids.length === 0) return new Map();
  const rows = await tx.execute<
    {
      id: string;
      event_id: string;
      quantity: number;
      status: BookingStatus;
      reason: BookingRejection | null;
      order_id: string | null;
      open_hold_ends_at: string | Date | null;
    }[]
  >(
    `select b.id, b.event_id, b.quantity, b.status, b.reason, b.order_id,
              case when o.status in ${statusList(OPEN_STATUSES)} then o.expires_at end as open_hold_ends_at
       from bookings b left join orders o on o.id = b.order_id
       where b.id in (?)`,
    [[...ids]],
  );
  return new Map(
    rows.map((row) => [
      row.id,
      {
        eventId: row.event_id,
        quantity: Number(row.quantity),
        status: row.status,
        reason: row.reason,
        orderId: row.order_id,
        openHoldEndsAt: row.open_hold_ends_at === null ? null : new Date(row.open_hold_ends_at),
      },
    ]),
  );
}

/** The decisions of one batch, one statement; `decidedAt` is the transaction's time. */
export async function insertBookings(
  tx: EntityManager,
  bookings: readonly NewBooking[],
  decidedAt: Date,
): Promise<void> {
  if (bookings.length === 0) return;
  await insertRows(
    tx,
    'bookings',
    bookings.map(({ request: r, status, reason, orderId }) => ({
      id: r.bookingId,
      user_id: r.userId,
      event_id: r.eventId,
      quantity: r.quantity,
      idempotency_key: r.idempotencyKey,
      status,
      reason,
      order_id: orderId,
      requested_at: new Date(r.requestedAt),
      decided_at: decidedAt,
    })),
  );
}

/** Records the attempt as REJECTED without a reason unless it is decided already; returns what Postgres has. */
export async function storeRejection(
  em: EntityManager,
  r: BookingRequest,
): Promise<{ status: BookingStatus; reason: BookingRejection | null } | null> {
  await em.execute(
    `insert into bookings (id, user_id, event_id, quantity, idempotency_key, status, reason, order_id, requested_at, decided_at)
       values (?, ?, ?, ?, ?, 'REJECTED', null, null, ?, now())
       on conflict do nothing`,
    [r.bookingId, r.userId, r.eventId, r.quantity, r.idempotencyKey, new Date(r.requestedAt)],
  );
  const [row] = await em.execute<{ status: BookingStatus; reason: BookingRejection | null }[]>(
    `select status, reason from bookings where id = ?`,
    [r.bookingId],
  );
  return row ?? null;
}

/** The bookings among these ids that Postgres decided. */
/** Of these attempts, those Postgres decided more than `olderThanSeconds` ago. */
export async function decidedBefore(
  em: EntityManager,
  ids: readonly string[],
  olderThanSeconds: number,
): Promise<string[]> {
  const rows = await em.execute<{ id: string }[]>(
    `select id from bookings where id in (?) and decided_at < now() - make_interval(secs => ?)`,
    [[...ids], olderThanSeconds],
  );
  return rows.map((r) => r.id);
}

export function decidedBookings(em: EntityManager, ids: readonly string[]): Promise<DecidedBooking[]> {
  return em.execute<DecidedBooking[]>(
    `select id, user_id, event_id, status, reason, order_id from bookings where id in (?)`,
    [[...ids]],
  );
}
