import type { EntityManager } from '../../infra/database.js';
import type { PassRecord, WaitingRoomInput } from './waiting-room.rules.js';

/** A room's settings and counters as Postgres has them, with its event's sale times. */
export interface RoomRecord {
  eventId: string;
  opensMinutesBefore: number;
  admitPerSecond: number | null;
  admissionSeconds: number;
  saleStartsAt: Date;
  startsAt: Date;
  shuffled: boolean;
  lastPosition: number;
  admittedThrough: number;
  admissionTickAt: Date | null;
  currentRate: number | null;
  closed: boolean;
}

interface RoomRow {
  event_id: string;
  opens_minutes_before: number;
  admit_per_second: number | null;
  admission_seconds: number;
  sale_starts_at: Date;
  starts_at: Date;
  shuffled_at: Date | null;
  last_position: number;
  admitted_through: number;
  admission_tick_at: Date | null;
  current_rate: number | null;
  closed: boolean;
}

interface PassRow {
  event_id: string;
  user_id: string;
  position: number | null;
  state: 'WAITING' | 'ADMITTED';
  admitted_until: Date | null;
}

export interface PassCounts {
  waiting: number;
  admitted: number;
  expired: number;
}

const ROOM_COLUMNS = `w.*, e.sale_starts_at, e.starts_at`;
const PASS_COLUMNS = `event_id, user_id, position, state, admitted_until`;
/** Rows per statement when placing the pre-queue (one array parameter each). */
const CHUNK = 50_000;

function toRoom(r: RoomRow): RoomRecord {
  return {
    eventId: r.event_id,
    opensMinutesBefore: r.opens_minutes_before,
    admitPerSecond: r.admit_per_second,
    admissionSeconds: r.admission_seconds,
    saleStartsAt: new Date(r.sale_starts_at),
    startsAt: new Date(r.starts_at),
    shuffled: r.shuffled_at !== null,
    lastPosition: r.last_position,
    admittedThrough: r.admitted_through,
    admissionTickAt: r.admission_tick_at ? new Date(r.admission_tick_at) : null,
    currentRate: r.current_rate === null ? null : Number(r.current_rate),
    closed: r.closed,
  };
}

function toPass(r: PassRow): PassRecord {
  return {
    eventId: r.event_id,
    userId: r.user_id,
    position: r.position,
    admitted: r.state === 'ADMITTED',
    admittedUntil: r.admitted_until ? new Date(r.admitted_until) : null,
  };
}

const uuidArray = (ids: readonly string[]) => `{${ids.join(',')}}`;

/** Every SQL statement about waiting rooms and queue passes. */
export class WaitingRoomRepository {
  /** In the transaction that creates the event. */
  async create(em: EntityManager, eventId: string, input: WaitingRoomInput): Promise<void> {
    await em.execute(
      `insert into waiting_rooms (event_id, opens_minutes_before, admit_per_second, admission_seconds)
       values (?, ?, ?, ?)`,
      [eventId, input.opensMinutesBefore, input.admitPerSecond ?? null, input.admissionSeconds],
    );
  }

  async room(em: EntityManager, eventId: string): Promise<RoomRecord | null> {
    const [row] = await em.execute<RoomRow[]>(
      `select ${ROOM_COLUMNS} from waiting_rooms w join events e on e.id = w.event_id where w.event_id = ?`,
      [eventId],
    );
    return row ? toRoom(row) : null;
  }

  /** Rooms whose sale has not ended: the admission runner's work. */
  async activeRooms(em: EntityManager): Promise<RoomRecord[]> {
    const rows = await em.execute<RoomRow[]>(
      `select ${ROOM_COLUMNS} from waiting_rooms w join events e on e.id = w.event_id
       where e.starts_at > now() and e.sale_starts_at - make_interval(mins => w.opens_minutes_before) <= now()`,
    );
    return rows.map(toRoom);
  }

  async pass(em: EntityManager, eventId: string, userId: string): Promise<PassRecord | null> {
    const [row] = await em.execute<PassRow[]>(
      `select ${PASS_COLUMNS} from queue_passes where event_id = ? and user_id = ?`,
      [eventId, userId],
    );
    return row ? toPass(row) : null;
  }

  async passes(em: EntityManager, eventId: string, userIds: readonly string[]): Promise<PassRecord[]> {
    if (userIds.length === 0) return [];
    const rows = await em.execute<PassRow[]>(
      `select ${PASS_COLUMNS} from queue_passes where event_id = ? and user_id = any(?::uuid[])`,
      [eventId, uuidArray(userIds)],
    );
    return rows.map(toPass);
  }

  /**
   * Before the shuffle: passes without a place, in the order given (their join order), in one
   * statement; buyers who joined before get their pass unchanged.
   */
  async joinPreQueue(em: EntityManager, eventId: string, userIds: readonly string[]): Promise<PassRecord[]> {
    const ids = uuidArray(userIds);
    // The outer select does not see the CTE's rows (one snapshot): new and earlier passes, once each.
    const rows = await em.execute<PassRow[]>(
      `with inserted as (
         insert into queue_passes (event_id, user_id)
         select ?, u from unnest(?::uuid[]) with ordinality as x(u, ord) order by ord
         on conflict (event_id, user_id) do nothing returning ${PASS_COLUMNS})
       select * from inserted
       union all
       select ${PASS_COLUMNS} from queue_passes where event_id = ? and user_id = any(?::uuid[])`,
      [eventId, ids, eventId, ids],
    );
    return rows.map(toPass);
  }

  /**
   * After the shuffle: the next place at the back, under the room's row lock (the one the runner's
   * placements take too). A buyer whose admission expired joins again here and gets a new place;
   * anyone else gets their pass unchanged.
   */
  async joinBack(em: EntityManager, eventId: string, userId: string): Promise<PassRecord> {
    return em.transactional(async (tx) => {
      const [room] = await tx.execute<{ last_position: number }[]>(
        `select last_position from waiting_rooms where event_id = ? for update`,
        [eventId],
      );
      const [current] = await tx.execute<(PassRow & { expired: boolean })[]>(
        `select ${PASS_COLUMNS}, (state = 'ADMITTED' and admitted_until <= now()) as expired
         from queue_passes where event_id = ? and user_id = ?`,
        [eventId, userId],
      );
      if (current && current.position !== null && !current.expired) return toPass(current);
      const position = room!.last_position + 1;
      await tx.execute(`update waiting_rooms set last_position = ?, updated_at = now() where event_id = ?`, [
        position,
        eventId,
      ]);
      const [row] = await tx.execute<PassRow[]>(
        `insert into queue_passes (event_id, user_id, position) values (?, ?, ?)
         on conflict (event_id, user_id) do update
           set position = excluded.position, state = 'WAITING', admitted_at = null, admitted_until = null,
               joined_at = now()
         returning ${PASS_COLUMNS}`,
        [eventId, userId, position],
      );
      return toPass(row!);
    });
  }

  /**
   * The fair start: the pre-queue's passes get places 1..N in the order `order` gives (a random
   * permutation of their join order), in one transaction with the room marked shuffled. Passes
   * that join meanwhile keep a null place and are placed at the back by `placeLateJoiners`.
   */
  async shuffle(em: EntityManager, eventId: string, order: (userIds: string[]) => string[]): Promise<number> {
    return em.transactional(async (tx) => {
      const [room] = await tx.execute<{ shuffled_at: Date | null }[]>(
        `select shuffled_at from waiting_rooms where event_id = ? for update`,
        [eventId],
      );
      if (!room || room.shuffled_at) return 0;
      const rows = await tx.execute<{ user_id: string }[]>(
        `select user_id from queue_passes where event_id = ? and position is null order by join_seq`,
        [eventId],
      );
      const shuffled = order(rows.map((r) => r.user_id));
      for (let i = 0; i < shuffled.length; i += CHUNK) {
        const ids = shuffled.slice(i, i + CHUNK);
        await tx.execute(
          `update queue_passes q set position = x.ord + ?
           from unnest(?::uuid[]) with ordinality as x(user_id, ord)
           where q.event_id = ? and q.user_id = x.user_id`,
          [i, uuidArray(ids), eventId],
        );
      }
      await tx.execute(
        `update waiting_rooms set shuffled_at = now(), last_position = ?, admission_tick_at = now(), updated_at = now()
         where event_id = ?`,
        [shuffled.length, eventId],
      );
      return shuffled.length;
    });
  }

  /** Passes that joined while the shuffle ran: the next places at the back, in arrival order. */
  async placeLateJoiners(em: EntityManager, eventId: string): Promise<number> {
    const [waiting] = await em.execute<{ n: string }[]>(
      `select count(*) as n from queue_passes where event_id = ? and position is null`,
      [eventId],
    );
    if (Number(waiting?.n ?? 0) === 0) return 0;
    return em.transactional(async (tx) => {
      const [room] = await tx.execute<{ last_position: number }[]>(
        `select last_position from waiting_rooms where event_id = ? for update`,
        [eventId],
      );
      const placed = await tx.execute<{ position: number }[]>(
        `update queue_passes q set position = ? + x.ord
         from (select user_id, row_number() over (order by join_seq) as ord
               from queue_passes where event_id = ? and position is null) x
         where q.event_id = ? and q.user_id = x.user_id returning q.position`,
        [room!.last_position, eventId, eventId],
      );
      await tx.execute(`update waiting_rooms set last_position = last_position + ? where event_id = ?`, [
        placed.length,
        eventId,
      ]);
      return placed.length;
    });
  }

  /**
   * Advances the serving counter by up to `count` places and admits the passes there, in one
   * transaction; conditional on the counter not having moved meanwhile, so two runners never both
   * advance it. The rate's clock (`admission_tick_at`) moves by exactly the time the admitted places
   * account for, and never lags more than a second behind (no burst after an idle spell).
   */
  async admit(
    em: EntityManager,
    room: RoomRecord,
    count: number,
    rate: number,
  ): Promise<{ through: number; waitedSeconds: number[] } | null> {
    return em.transactional(async (tx) => {
      const through = Math.min(room.lastPosition, room.admittedThrough + count);
      const [moved] = await tx.execute<{ admitted_through: number }[]>(
        `update waiting_rooms
         set admitted_through = ?, current_rate = ?, updated_at = now(),
             admission_tick_at = greatest(admission_tick_at + make_interval(secs => ?::double precision / ?), now() - interval '1 second')
         where event_id = ? and admitted_through = ? returning admitted_through`,
        [through, rate, through - room.admittedThrough, rate, room.eventId, room.admittedThrough],
      );
      if (!moved) return null;
      // Time waited: from joining, or from the sale's start for the pre-queue.
      const admitted = await tx.execute<{ waited: number }[]>(
        `update queue_passes
         set state = 'ADMITTED', admitted_at = now(), admitted_until = now() + make_interval(secs => ?)
         where event_id = ? and position > ? and position <= ? and state = 'WAITING'
         returning extract(epoch from now() - greatest(joined_at, ?::timestamptz)) as waited`,
        [room.admissionSeconds, room.eventId, room.admittedThrough, through, room.saleStartsAt],
      );
      return { through, waitedSeconds: admitted.map((a) => Number(a.waited)) };
    });
  }

  async setRate(em: EntityManager, eventId: string, rate: number): Promise<void> {
    await em.execute(`update waiting_rooms set current_rate = ? where event_id = ?`, [rate, eventId]);
  }

  /** Closed while the event has no ticket left; reopened when held tickets come back. */
  async setClosed(em: EntityManager, eventId: string, closed: boolean): Promise<void> {
    await em.execute(
      `update waiting_rooms set closed = ?, updated_at = now(),
         admission_tick_at = case when ? then admission_tick_at else now() end
       where event_id = ?`,
      [closed, closed, eventId],
    );
  }

  /** The event's tickets left in Postgres (the truth the sell-out is judged by), and the database's clock. */
  async stockAndNow(em: EntityManager, eventId: string): Promise<{ available: number; now: Date }> {
    const [row] = await em.execute<{ available: number; now: Date }[]>(
      `select available, now() as now from stock where event_id = ?`,
      [eventId],
    );
    return { available: Number(row?.available ?? 0), now: new Date(row?.now ?? Date.now()) };
  }

  async counts(em: EntityManager, eventId: string): Promise<PassCounts> {
    const [row] = await em.execute<{ waiting: string; admitted: string; expired: string }[]>(
      `select count(*) filter (where state = 'WAITING') as waiting,
              count(*) filter (where state = 'ADMITTED' and admitted_until > now()) as admitted,
              count(*) filter (where state = 'ADMITTED' and admitted_until <= now()) as expired
       from queue_passes where event_id = ?`,
      [eventId],
    );
    return {
      waiting: Number(row?.waiting ?? 0),
      admitted: Number(row?.admitted ?? 0),
      expired: Number(row?.expired ?? 0),
    };
  }

  /** The pipeline's decisions of the event over the last `seconds`: how many, and the slowest (p99). */
  async recentDecisions(
    em: EntityManager,
    eventId: string,
    seconds: number,
  ): Promise<{ count: number; p99Ms: number | null }> {
    const [row] = await em.execute<{ n: string; p99: number | null }[]>(
      `select count(*) as n,
              percentile_cont(0.99) within group (order by extract(epoch from decided_at - requested_at) * 1000) as p99
       from bookings where event_id = ? and decided_at > now() - make_interval(secs => ?)`,
      [eventId, seconds],
    );
    return { count: Number(row?.n ?? 0), p99Ms: row?.p99 === null || row?.p99 === undefined ? null : Number(row.p99) };
  }
}
