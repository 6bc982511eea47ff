import type { EntityManager } from '../../infra/database.js';

/**
 * Every SQL query of the events listing: upcoming events by start time, full-text search, and
 * their counts. Keyset pages: `after` is the sort key of the last row the client saw.
 */

/** An `events` row joined with its stock count, plus the sort key as Postgres' own text. */
export interface EventRow {
  id: string;
  available: number;
  sort_rank?: string;
  sort_starts_at: string;
  total_count: string;
  [column: string]: unknown;
}

/** Ended events are left out unless asked for. */
function timeFilter(includeEnded: boolean): string {
  return includeEnded ? 'true' : 'e.starts_at > now()';
}

/** Best match first: an exact title match, then rank, then start time; `limit` rows at most. */
export function searchEvents(
  em: EntityManager,
  args: {
    query: string;
    limit: number;
    includeEnded: boolean;
    after: { rank: string; startsAt: string; id: string } | null;
  },
): Promise<EventRow[]> {
  const params: unknown[] = [args.query, args.query];
  let keyset = 'true';
  if (args.after) {
    const { rank, startsAt, id } = args.after;
    keyset = `(m.rank < ?::real or (m.rank = ?::real and (m.starts_at > ?::timestamptz or (m.starts_at = ?::timestamptz and m.id > ?::uuid))))`;
    params.push(rank, rank, startsAt, startsAt, id);
  }
  params.push(args.limit);
  return em.execute<EventRow[]>(
    `with q as (select websearch_to_tsquery('english', ?) as tsq),
       matches as (
         select e.*, s.available,
                (ts_rank_cd(e.search, q.tsq) + case when lower(e.title) = lower(?) then 1 else 0 end)::real as rank,
                count(*) over () as total_count
         from events e join stock s on s.event_id = e.id, q
         where e.search @@ q.tsq and ${timeFilter(args.includeEnded)}
       )
       select m.*, m.rank::text as sort_rank, m.starts_at::text as sort_starts_at
       from matches m
       where ${keyset}
       order by m.rank desc, m.starts_at asc, m.id asc
       limit ?`,
    params,
  );
}

/** Events by start time; `limit` rows at most. */
export function upcomingEvents(
  em: EntityManager,
  args: { limit: number; includeEnded: boolean; after: { startsAt: string; id: string } | null },
): Promise<EventRow[]> {
  const params: unknown[] = [];
  let keyset = 'true';
  if (args.after) {
    keyset = `(e.starts_at, e.id) > (?::timestamptz, ?::uuid)`;
    params.push(args.after.startsAt, args.after.id);
  }
  params.push(args.limit);
  const filter = timeFilter(args.includeEnded);
  return em.execute<EventRow[]>(
    `select e.*, s.available, e.starts_at::text as sort_starts_at,
              (select count(*) from events e where ${filter}) as total_count
       from events e join stock s on s.event_id = e.id
       where ${filter} and ${keyset}
       order by e.starts_at asc, e.id asc
       limit ?`,
    params,
  );
}

/** How many events the listing (with `query`: the search) has in all. */
export async function countEvents(em: EntityManager, query: string, includeEnded: boolean): Promise<number> {
  const filter = timeFilter(includeEnded);
  const [row] = query
    ? await em.execute<{ n: string }[]>(
        `select count(*) as n from events e where e.search @@ websearch_to_tsquery('english', ?) and ${filter}`,
        [query],
      )
    : await em.execute<{ n: string }[]>(`select count(*) as n from events e where ${filter}`);
  return Number(row?.n ?? 0);
}
