import { OrderStatus } from '../../entities/order.entity.js';
import type { EntityManager } from '../../infra/database.js';

/** The SQL queries of the sale dashboard: a read model over an event's stock and orders. */

/** The event's ticket totals and Postgres' clock, or null for an unknown event. */
export async function saleStock(
  em: EntityManager,
  eventId: string,
): Promise<{ total: number; available: number; now: Date } | null> {
  const [stock] = await em.execute<{ total: number; available: number; now: Date }[]>(
    `select e.tickets_total as total, s.available, now() as now
       from events e join stock s on s.event_id = e.id where e.id = ?`,
    [eventId],
  );
  return stock ?? null;
}

export function orderCountsByStatus(em: EntityManager, eventId: string): Promise<{ status: OrderStatus; n: string }[]> {
  return em.execute<{ status: OrderStatus; n: string }[]>(
    `select status, count(*) as n from orders where event_id = ? group by status`,
    [eventId],
  );
}

/**
 * Per second of the `seconds` up to `until`: reservations (orders created) and payments (orders
 * that reached SUCCEEDED, whose updated_at is then).
 */
export function saleTimeline(
  em: EntityManager,
  eventId: string,
  until: Date,
  seconds: number,
): Promise<{ at: Date; reservations: string; payments: string }[]> {
  return em.execute<{ at: Date; reservations: string; payments: string }[]>(
    `select s.at,
                (select count(*) from orders o
                  where o.event_id = ? and o.created_at >= s.at and o.created_at < s.at + interval '1 second') as reservations,
                (select count(*) from orders o
                  where o.event_id = ? and o.status = ? and o.updated_at >= s.at and o.updated_at < s.at + interval '1 second') as payments
         from generate_series(date_trunc('second', ?::timestamptz) - (? - 1) * interval '1 second',
                              date_trunc('second', ?::timestamptz), interval '1 second') as s(at)
         order by s.at`,
    [eventId, eventId, OrderStatus.SUCCEEDED, until, seconds, until],
  );
}
