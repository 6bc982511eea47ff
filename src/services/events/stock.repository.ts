import type { EntityManager } from '../../infra/database.js';
import type { StockSnapshot, StockVersion } from '../../infra/stock-gate.js';
import { HOLDING_STATUSES, statusList } from '../orders/order-statuses.js';

/**
 * Every SQL statement about an event's stock row (`stock`: tickets available and a version that
 * every change bumps, so Redis can tell a newer Postgres state from an older one).
 */

/** A stock row locked for deciding a booking batch, with the event's sale window by Postgres' clock. */
export interface LockedStock {
  event_id: string;
  available: number;
  version: string;
  on_sale: boolean;
  now: Date;
}

function version(row: { available: number | string; version: number | string }): StockVersion {
  return { available: Number(row.available), version: Number(row.version) };
}

/**
 * The one stock-row update: `delta` tickets back (positive) or taken (negative), the version
 * bumped. With `onlyIfEnough`, nothing changes (null) when fewer than `-delta` are left.
 */
export async function changeStock(
  em: EntityManager,
  eventId: string,
  delta: number,
  opts: { onlyIfEnough?: boolean } = {},
): Promise<StockVersion | null> {
  const [row] = await em.execute<{ available: number; version: string }[]>(
    `update stock set available = available + ?, version = version + 1, updated_at = now()
       where event_id = ?${opts.onlyIfEnough ? ' and available >= ?' : ''} returning available, version`,
    opts.onlyIfEnough ? [delta, eventId, -delta] : [delta, eventId],
  );
  return row ? version(row) : null;
}

/** The stock row as it is now, or null for an unknown event. */
export async function stockVersion(em: EntityManager, eventId: string): Promise<StockVersion | null> {
  const [row] = await em.execute<{ available: number; version: string }[]>(
    `select available, version from stock where event_id = ?`,
    [eventId],
  );
  return row ? version(row) : null;
}

/**
 * Locks the events' stock rows (in event-id order, so concurrent batches of the same events queue
 * up instead of deadlocking); `now()` is the transaction's time.
 */
export function lockStock(tx: EntityManager, eventIds: readonly string[]): Promise<LockedStock[]> {
  if (eventIds.length === 0) return Promise.resolve([]);
  return tx.execute<LockedStock[]>(
    `select s.event_id, s.available, s.version, now() as now,
                  (now() >= e.sale_starts_at and now() < e.starts_at) as on_sale
           from stock s join events e on e.id = s.event_id
           where s.event_id in (?) order by s.event_id for update of s`,
    [[...eventIds]],
  );
}

/** Postgres' view of an event's stock and of each buyer's held tickets, in one statement. */
export async function stockSnapshot(em: EntityManager, eventId: string): Promise<StockSnapshot> {
  const rows = await em.execute<{ available: number; version: string; user_id: string | null; held: string | null }[]>(
    `select s.available, s.version, h.user_id, h.held
       from stock s
       left join (
         select user_id, sum(quantity) as held from orders
         where event_id = ? and status in ${statusList(HOLDING_STATUSES)}
         group by user_id
       ) h on true
       where s.event_id = ?`,
    [eventId, eventId],
  );
  if (rows.length === 0) throw new Error(`no stock row for event ${eventId}`);
  return {
    ...version(rows[0]!),
    heldByUser: new Map(rows.filter((r) => r.user_id).map((r) => [r.user_id!, Number(r.held)])),
  };
}

/**
 * Per event on sale or opening within `preloadAhead` (an SQL interval, a constant): Postgres'
 * stock, version and number of buyers holding tickets, to compare with Redis cheaply.
 */
export function stockOfEventsOnSale(
  em: EntityManager,
  preloadAhead: string,
): Promise<{ id: string; available: number; version: string; holders: string }[]> {
  return em.execute<{ id: string; available: number; version: string; holders: string }[]>(
    `select e.id, s.available, s.version,
                (select count(distinct o.user_id) from orders o
                 where o.event_id = e.id and o.status in ${statusList(HOLDING_STATUSES)}) as holders
         from events e join stock s on s.event_id = e.id
         where e.sale_starts_at <= now() + interval '${preloadAhead}' and e.starts_at > now()`,
  );
}
