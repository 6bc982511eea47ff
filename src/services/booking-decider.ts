import { randomUUID } from 'node:crypto';
import { BookingRejection, type BookingStatus } from '../entities/booking.entity.js';
import type { Event } from '../entities/event.entity.js';
import { HOLDING_STATUSES_SQL } from '../entities/order.entity.js';
import { isRefusedData, type Database, type EntityManager } from '../infra/database.js';
import type { GateAttempt, GateDecision, StockGate, StockSnapshot, StockVersion } from '../infra/stock-gate.js';
import { describeError } from '../logger.js';
import type { EventCatalog } from './event-catalog.js';
import type { BookingDecisionLive } from './live-topics.js';
import type { BookingRequest } from './queue-messages.js';

/** The outcome of one attempt. */
export type Decision = BookingDecisionLive;

export interface BatchOutcome {
  decisions: Decision[];
  /** Per event touched: the Postgres stock after the batch and the Redis stock after settling. */
  stock: { eventId: string; pg: StockVersion; redis: number | null }[];
  /** Orders created by this batch. */
  created: number;
  /**
   * Open holds of this batch's reservations, grouped by end time, including those decided by an
   * earlier delivery of the batch (whose expiry job may not have been queued before a crash).
   */
  holds: { orderIds: string[]; expiresAt: Date }[];
  /** Attempts whose data Postgres refused (see isRefusedData): REJECTED without a reason, and why. */
  refused: { bookingId: string; eventId: string; error: string }[];
}

/** Test seam: lets a test stop a worker between the Redis step and the Postgres commit. */
export interface DeciderFaults {
  afterGate?(requests: readonly BookingRequest[]): Promise<void>;
}

/**
 * A Postgres state older than any Redis applied: settling with it only gives back what the gate
 * has in flight for the attempts, for when Postgres' stock row cannot be read.
 */
const NO_NEWER_VERSION: StockVersion = { available: 0, version: -1 };

/** A booking Postgres decided earlier. */
interface PriorBooking {
  eventId: string;
  /** The end of its order's hold while the order can still be paid. */
  openHoldEndsAt: Date | null;
  quantity: number;
  status: BookingStatus;
  reason: BookingRejection | null;
  orderId: string | null;
}

interface StockRow {
  event_id: string;
  available: number;
  version: string;
  on_sale: boolean;
  now: Date;
}

/**
 * The worker side of booking: decides a batch of attempts with one Redis call per event and one
 * Postgres transaction for the whole batch. Redis answers fast; Postgres has the last word (the
 * stock row is locked and `available >= 0` is checked); Redis is then told what Postgres did.
 *
 * Safe to repeat: an attempt already decided in Postgres keeps that decision, however often its
 * message is delivered, whatever Redis remembers (or has forgotten).
 *
 * One attempt whose data Postgres refuses (a NUL byte in a key, a number out of range, a row that
 * breaks a constraint) must not hold up the others: when the batch's transaction fails that way,
 * the batch is decided again one attempt per transaction, and only the attempts Postgres still
 * refuses are rejected, in Redis (which gives their tickets back). Any other failure (Postgres or
 * Redis down) is thrown: a passing fault, for the queue to redeliver.
 */
export class BookingDecider {
  constructor(
    private readonly orm: Database,
    private readonly gate: StockGate,
    private readonly catalog: EventCatalog,
    private readonly holdSeconds: number,
    private readonly faults: DeciderFaults = {},
  ) {}

  /**
   * `answered`: attempts a client was already answered REJECTED for (booking id → reason, '' for
   * none) without Postgres knowing; unless Postgres decided them, that answer is their decision.
   */
  async decide(
    batch: readonly BookingRequest[],
    answered: ReadonlyMap<string, string> = new Map(),
  ): Promise<BatchOutcome> {
    const requests = distinct(batch);
    try {
      return await this.decideTogether(requests, answered);
    } catch (err) {
      if (!isRefusedData(err)) throw err;
      if (requests.length === 1) return this.refuse(requests[0]!, err);
    }
    // Rare, so it may be slow: one transaction per attempt finds the ones Postgres refuses.
    const outcomes: BatchOutcome[] = [];
    for (const r of requests) {
      try {
        outcomes.push(await this.decideTogether([r], answered));
      } catch (err) {
        if (!isRefusedData(err)) throw err;
        outcomes.push(await this.refuse(r, err));
      }
    }
    return mergeOutcomes(outcomes);
  }

  /**
   * Closes attempts the queue gave up on (dead-lettered after failing every delivery): each ends
   * REJECTED without a reason, unless Postgres decided it before (that decision stands). The
   * rejection is written to Postgres first, so a copy still queued anywhere gets the same answer;
   * when Postgres refuses the row, Redis records it alone, and the gate gives back what it reserved.
   *
   * When Postgres cannot be reached, an earlier delivery may have committed the attempt, so it is
   * not decided here at all: it stays QUEUED (and its tickets in flight), and the booking sweep
   * queues it again once Postgres answers, where Postgres' decision, if any, stands.
   */
  async abandon(batch: readonly BookingRequest[]): Promise<BatchOutcome> {
    const outcomes: BatchOutcome[] = [];
    for (const r of distinct(batch)) {
      let stored: { status: BookingStatus; reason: BookingRejection | null } | null = null;
      try {
        stored = await this.storeRejection(r);
      } catch (err) {
        if (!isRefusedData(err)) continue; // Postgres away: undecided, for the sweep
      }
      if (stored?.status === 'RESERVED') outcomes.push(await this.decideTogether([r]));
      else outcomes.push(await this.rejectInRedis(r, stored?.reason ?? null));
    }
    return mergeOutcomes(outcomes);
  }

  /** The normal path: one Redis call per event and one Postgres transaction for the whole batch. */
  private async decideTogether(
    requests: readonly BookingRequest[],
    answered: ReadonlyMap<string, string> = new Map(),
  ): Promise<BatchOutcome> {
    const events = await this.catalog.getMany([...new Set(requests.map((r) => r.eventId))]);
    const users = await this.knownUsers(requests.map((r) => r.userId));
    const gated = await this.gateAll(
      requests.filter((r) => users.has(r.userId) && !answered.has(r.bookingId)),
      events,
    );
    await this.faults.afterGate?.(requests);

    const em = this.orm.em.fork();
    const result = await em.transactional((tx) => this.commit(tx, requests, events, users, gated, answered));

    // Tell Redis what Postgres did, per event (a fault here leaves the job to be redelivered).
    const stock = await Promise.all(
      [...result.stock].map(async ([eventId, pg]) => ({
        eventId,
        pg,
        redis: await this.gate.settle(eventId, pg, {
          committed: result.committed.get(eventId),
          confirmed: result.confirmed.get(eventId),
          refused: result.refused.get(eventId),
        }),
      })),
    );
    return { decisions: result.decisions, stock, created: result.created, holds: result.holds, refused: [] };
  }

  /** An attempt Postgres will not store: REJECTED, in Redis only. */
  private async refuse(r: BookingRequest, err: unknown): Promise<BatchOutcome> {
    const outcome = await this.rejectInRedis(r, null);
    return { ...outcome, refused: [{ bookingId: r.bookingId, eventId: r.eventId, error: describeError(err) }] };
  }

  /** The gate gives back what it reserved for the attempt and remembers the rejection. */
  private async rejectInRedis(r: BookingRequest, reason: BookingRejection | null): Promise<BatchOutcome> {
    let pg: StockVersion | null = null;
    try {
      pg = await this.stockVersion(r.eventId);
    } catch {
      // Postgres unreachable: the release still applies, without a newer stock count.
    }
    const redis = await this.gate.settle(r.eventId, pg ?? NO_NEWER_VERSION, {
      refused: [{ ...r, decision: rejectedMemory(reason) }],
    });
    return {
      decisions: [decisionOf(r, 'REJECTED', reason, null)],
      stock: pg ? [{ eventId: r.eventId, pg, redis }] : [],
      created: 0,
      holds: [],
      refused: [],
    };
  }

  /** Records the attempt as REJECTED unless it is decided already; returns what Postgres has. */
  private async storeRejection(
    r: BookingRequest,
  ): Promise<{ status: BookingStatus; reason: BookingRejection | null } | null> {
    const em = this.orm.em.fork();
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

  private async stockVersion(eventId: string): Promise<StockVersion | null> {
    const [row] = await this.orm.em
      .fork()
      .execute<{ available: number; version: string }[]>(`select available, version from stock where event_id = ?`, [
        eventId,
      ]);
    return row ? { available: Number(row.available), version: Number(row.version) } : null;
  }

  /** Redis step: one script call per event in the batch, loading the event first if needed. */
  private async gateAll(
    requests: readonly BookingRequest[],
    events: Map<string, Event>,
  ): Promise<Map<string, GateDecision>> {
    const byEvent = new Map<string, BookingRequest[]>();
    for (const r of requests) {
      const event = events.get(r.eventId);
      if (!event || r.quantity > event.maxPerUser) continue; // decided without the gate
      const list = byEvent.get(r.eventId) ?? [];
      list.push(r);
      byEvent.set(r.eventId, list);
    }
    const decisions = new Map<string, GateDecision>();
    await Promise.all(
      [...byEvent].map(async ([eventId, list]) => {
        const maxPerUser = events.get(eventId)!.maxPerUser;
        let gated = await this.gate.reserve(eventId, maxPerUser, list);
        if (!gated) {
          await this.gate.load(eventId, await this.snapshot(eventId));
          gated = await this.gate.reserve(eventId, maxPerUser, list);
          if (!gated) throw new Error(`stock of event ${eventId} could not be loaded into Redis`);
        }
        gated.forEach((d, i) => decisions.set(list[i]!.bookingId, d));
      }),
    );
    return decisions;
  }

  /** Postgres step: one transaction deciding every attempt of the batch. */
  private async commit(
    tx: EntityManager,
    requests: readonly BookingRequest[],
    events: Map<string, Event>,
    users: Set<string>,
    gated: Map<string, GateDecision>,
    answered: ReadonlyMap<string, string>,
  ) {
    const eventIds = [...events.keys()];
    // Locking the stock rows orders concurrent batches of the same event; `now()` is the transaction's time.
    const rows = eventIds.length
      ? await tx.execute<StockRow[]>(
          `select s.event_id, s.available, s.version, now() as now,
                  (now() >= e.sale_starts_at and now() < e.starts_at) as on_sale
           from stock s join events e on e.id = s.event_id
           where s.event_id in (?) order by s.event_id for update of s`,
          [eventIds],
        )
      : [];
    const stockByEvent = new Map(rows.map((r) => [r.event_id, { ...r, available: Number(r.available) }]));
    const existing = await this.existingBookings(
      tx,
      requests.map((r) => r.bookingId),
    );
    const now = rows[0]?.now ?? new Date();
    const expiresAt = new Date(new Date(now).getTime() + this.holdSeconds * 1000);

    const decisions: Decision[] = [];
    /** Inserted by this transaction, and found already in Postgres (a redelivery), per event. */
    const committed = new Map<string, GateAttempt[]>();
    const confirmed = new Map<string, GateAttempt[]>();
    const refused = new Map<string, (GateAttempt & { decision: string })[]>();
    const taken = new Map<string, number>();
    const newBookings: Record<string, unknown>[] = [];
    const newOrders: Record<string, unknown>[] = [];
    const push = <T>(map: Map<string, T[]>, key: string, value: T) => map.set(key, [...(map.get(key) ?? []), value]);

    for (const r of requests) {
      const gate = gated.get(r.bookingId);
      const reservedInRedis = gate?.status === 'RESERVED';
      const prior = existing.get(r.bookingId);
      if (prior) {
        // Decided before (a redelivery, or Redis forgot): Postgres' decision stands.
        const conflict = prior.eventId !== r.eventId || prior.quantity !== r.quantity;
        decisions.push({
          ...decisionOf(r, prior.status === 'RESERVED' ? 'RESERVED' : 'REJECTED', prior.reason, prior.orderId),
          ...(conflict ? { conflict: true } : {}),
        });
        if (reservedInRedis) {
          const sameReservation = !gate.fresh && !conflict && prior.status === 'RESERVED';
          if (sameReservation) push(confirmed, r.eventId, r);
          else push(refused, r.eventId, { ...r, decision: conflict ? 'X:CONFLICT' : gateMemory(prior) });
        }
        continue;
      }

      if (!users.has(r.userId)) {
        // A validly signed token for a user Postgres does not know (a deleted account, a token
        // minted with this secret elsewhere): no row can reference it, so it is refused here
        // rather than failing its whole batch forever. No BookingRejection fits; no reason given.
        decisions.push(decisionOf(r, 'REJECTED', null, null));
        continue;
      }

      const event = events.get(r.eventId);
      const stock = stockByEvent.get(r.eventId);
      let rejection: { reason: BookingRejection | null } | null = null;
      const given = answered.get(r.bookingId);
      if (given !== undefined) rejection = { reason: (given || null) as BookingRejection | null };
      else if (!event || !stock || !stock.on_sale) rejection = { reason: BookingRejection.NOT_ON_SALE };
      else if (r.quantity > event.maxPerUser) rejection = { reason: BookingRejection.INVALID_QUANTITY };
      // The gate's answer, or the one it remembers ('' for a rejection without a reason, see rejectedMemory).
      else if (gate?.status === 'REJECTED') rejection = { reason: (gate.reason || null) as BookingRejection | null };
      else if (stock.available < r.quantity) rejection = { reason: BookingRejection.SOLD_OUT }; // Postgres has the last word

      if (rejection === null && event && stock) {
        stock.available -= r.quantity;
        taken.set(r.eventId, (taken.get(r.eventId) ?? 0) + r.quantity);
        const orderId = randomUUID();
        newBookings.push(bookingRow(r, 'RESERVED', null, orderId, now));
        newOrders.push({
          id: orderId,
          booking_id: r.bookingId,
          user_id: r.userId,
          event_id: r.eventId,
          quantity: r.quantity,
          amount: r.quantity * event.price,
          currency: event.currency,
          status: 'UNPAID',
          expires_at: expiresAt,
          created_at: now,
          updated_at: now,
        });
        push(committed, r.eventId, r);
        decisions.push(decisionOf(r, 'RESERVED', null, orderId));
      } else {
        const reason = rejection ? rejection.reason : BookingRejection.SOLD_OUT;
        newBookings.push(bookingRow(r, 'REJECTED', reason, null, now));
        if (reservedInRedis) push(refused, r.eventId, { ...r, decision: rejectedMemory(reason) });
        decisions.push(decisionOf(r, 'REJECTED', reason, null));
      }
    }

    // Bookings before orders (orders reference them); multi-row inserts, one statement each.
    if (newBookings.length) await insertRows(tx, 'bookings', newBookings);
    if (newOrders.length) await insertRows(tx, 'orders', newOrders);
    const stockAfter = new Map<string, StockVersion>();
    for (const [eventId, row] of stockByEvent) {
      const n = taken.get(eventId) ?? 0;
      if (n === 0) {
        stockAfter.set(eventId, { available: row.available, version: Number(row.version) });
        continue;
      }
      const [updated] = await tx.execute<{ available: number; version: string }[]>(
        `update stock set available = available - ?, version = version + 1, updated_at = now()
         where event_id = ? returning available, version`,
        [n, eventId],
      );
      stockAfter.set(eventId, { available: Number(updated!.available), version: Number(updated!.version) });
    }
    return {
      decisions,
      committed,
      confirmed,
      refused,
      stock: stockAfter,
      created: newOrders.length,
      holds: groupHolds([
        ...newOrders.map((o) => ({ orderId: o.id as string, expiresAt })),
        ...[...existing.values()].flatMap((p) =>
          p.orderId && p.openHoldEndsAt ? [{ orderId: p.orderId, expiresAt: p.openHoldEndsAt }] : [],
        ),
      ]),
    };
  }

  /** The batch's users that exist: accounts are never deleted, so this holds through the transaction. */
  private async knownUsers(userIds: string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const rows = await this.orm.em
      .fork()
      .execute<{ id: string }[]>(`select id from users where id in (?)`, [[...new Set(userIds)]]);
    return new Set(rows.map((r) => r.id));
  }

  private async existingBookings(tx: EntityManager, ids: string[]): Promise<Map<string, PriorBooking>> {
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
              case when o.status in ('UNPAID', 'PAYING', 'FAILED') then o.expires_at end as open_hold_ends_at
       from bookings b left join orders o on o.id = b.order_id
       where b.id in (?)`,
      [ids],
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

  /** Postgres' view of an event's stock and of each buyer's held tickets, in one statement. */
  async snapshot(eventId: string): Promise<StockSnapshot> {
    const rows = await this.orm.em
      .fork()
      .execute<{ available: number; version: string; user_id: string | null; held: string | null }[]>(
        `select s.available, s.version, h.user_id, h.held
       from stock s
       left join (
         select user_id, sum(quantity) as held from orders
         where event_id = ? and status in ${HOLDING_STATUSES_SQL}
         group by user_id
       ) h on true
       where s.event_id = ?`,
        [eventId, eventId],
      );
    if (rows.length === 0) throw new Error(`no stock row for event ${eventId}`);
    return {
      available: Number(rows[0]!.available),
      version: Number(rows[0]!.version),
      heldByUser: new Map(rows.filter((r) => r.user_id).map((r) => [r.user_id!, Number(r.held)])),
    };
  }
}

/** The same attempt can be queued twice (a client retry, a sweep re-publish); decide it once. */
function distinct(batch: readonly BookingRequest[]): BookingRequest[] {
  return [...new Map(batch.map((r) => [r.bookingId, r])).values()];
}

/** One outcome for attempts decided one by one; per event, the stock report of the newest Postgres version. */
function mergeOutcomes(outcomes: readonly BatchOutcome[]): BatchOutcome {
  const stock = new Map<string, BatchOutcome['stock'][number]>();
  for (const s of outcomes.flatMap((o) => o.stock)) {
    const seen = stock.get(s.eventId);
    if (!seen || s.pg.version >= seen.pg.version) stock.set(s.eventId, s);
  }
  return {
    decisions: outcomes.flatMap((o) => o.decisions),
    stock: [...stock.values()],
    created: outcomes.reduce((n, o) => n + o.created, 0),
    holds: outcomes.flatMap((o) => o.holds),
    refused: outcomes.flatMap((o) => o.refused),
  };
}

function decisionOf(
  r: BookingRequest,
  status: Decision['status'],
  reason: BookingRejection | null,
  orderId: string | null,
): Decision {
  return { bookingId: r.bookingId, userId: r.userId, eventId: r.eventId, status, reason, orderId };
}

function groupHolds(holds: { orderId: string; expiresAt: Date }[]): { orderIds: string[]; expiresAt: Date }[] {
  const groups = new Map<number, { orderIds: string[]; expiresAt: Date }>();
  for (const h of holds) {
    const group = groups.get(h.expiresAt.getTime()) ?? { orderIds: [], expiresAt: h.expiresAt };
    group.orderIds.push(h.orderId);
    groups.set(h.expiresAt.getTime(), group);
  }
  return [...groups.values()];
}

/** What the gate should remember for a booking Postgres decided earlier. */
function gateMemory(prior: PriorBooking): string {
  return prior.status === 'RESERVED' ? 'R' : rejectedMemory(prior.reason);
}

/**
 * The gate's memory of a rejection, `X:<reason>`. An attempt rejected without a BookingRejection
 * (its data cannot be stored, or the queue gave up on it) is `X:`, so a copy delivered later gets
 * the same answer.
 */
function rejectedMemory(reason: BookingRejection | null): string {
  return `X:${reason ?? ''}`;
}

function bookingRow(r: BookingRequest, status: string, reason: string | null, orderId: string | null, now: Date) {
  return {
    id: r.bookingId,
    user_id: r.userId,
    event_id: r.eventId,
    quantity: r.quantity,
    idempotency_key: r.idempotencyKey,
    status,
    reason,
    order_id: orderId,
    requested_at: new Date(r.requestedAt),
    decided_at: now,
  };
}

/** One multi-row `insert` with positional parameters. */
async function insertRows(tx: EntityManager, table: string, rows: Record<string, unknown>[]): Promise<void> {
  const columns = Object.keys(rows[0]!);
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  await tx.execute(
    `insert into ${table} (${columns.join(', ')}) values ${rows.map(() => tuple).join(', ')}`,
    rows.flatMap((row) => columns.map((c) => row[c])),
  );
}
