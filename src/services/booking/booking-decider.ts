import type { BookingRejection, BookingStatus } from '../../entities/booking.entity.js';
import type { Event } from '../../entities/event.entity.js';
import { isRefusedData, type Database, type EntityManager } from '../../infra/database.js';
import { rejectedMemory } from '../../infra/gate-memory.js';
import type { GateDecision, StockGate, StockSnapshot, StockVersion } from '../../infra/stock-gate.js';
import { describeError } from '../../logger.js';
import { existingUserIds } from '../auth/user.repository.js';
import type { EventCatalog } from '../events/event-catalog.js';
import { changeStock, lockStock, stockSnapshot, stockVersion } from '../events/stock.repository.js';
import type { BookingRequest } from '../messages/queue-messages.js';
import { insertOrders } from '../orders/order.repository.js';
import { BatchDecisions, decisionOf, type Decision } from './batch-decisions.js';
import { insertBookings, priorBookings, storeRejection } from './booking.repository.js';

export type { Decision } from './batch-decisions.js';

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
        stored = await storeRejection(this.orm.em.fork(), r);
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
    const users = await existingUserIds(
      this.orm.em.fork(),
      requests.map((r) => r.userId),
    );
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
      pg = await stockVersion(this.orm.em.fork(), r.eventId);
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
    // Locking the stock rows orders concurrent batches of the same event; `now()` is the transaction's time.
    const rows = await lockStock(tx, [...events.keys()]);
    const stock = new Map(rows.map((r) => [r.event_id, { ...r, available: Number(r.available) }]));
    const prior = await priorBookings(
      tx,
      requests.map((r) => r.bookingId),
    );
    const now = rows[0]?.now ?? new Date();
    const expiresAt = new Date(new Date(now).getTime() + this.holdSeconds * 1000);

    const batch = new BatchDecisions({ events, users, gated, answered, stock, prior, now, expiresAt });
    for (const r of requests) batch.decide(r);

    // Bookings before orders (orders reference them); multi-row inserts, one statement each.
    await insertBookings(tx, batch.newBookings, now);
    await insertOrders(tx, batch.newOrders);
    return {
      decisions: batch.decisions,
      committed: batch.committed,
      confirmed: batch.confirmed,
      refused: batch.refused,
      stock: await this.takeTickets(tx, stock, batch.taken),
      created: batch.newOrders.length,
      holds: groupHolds([
        ...batch.newOrders.map((o) => ({ orderId: o.id, expiresAt })),
        ...[...prior.values()].flatMap((p) =>
          p.orderId && p.openHoldEndsAt ? [{ orderId: p.orderId, expiresAt: p.openHoldEndsAt }] : [],
        ),
      ]),
    };
  }

  /** The tickets the batch took come off the stock rows; per event, the stock after the batch. */
  private async takeTickets(
    tx: EntityManager,
    stock: Map<string, { available: number; version: string }>,
    taken: Map<string, number>,
  ): Promise<Map<string, StockVersion>> {
    const after = new Map<string, StockVersion>();
    for (const [eventId, row] of stock) {
      const n = taken.get(eventId) ?? 0;
      after.set(
        eventId,
        n === 0 ? { available: row.available, version: Number(row.version) } : (await changeStock(tx, eventId, -n))!,
      );
    }
    return after;
  }

  /** Postgres' view of an event's stock and of each buyer's held tickets, in one statement. */
  snapshot(eventId: string): Promise<StockSnapshot> {
    return stockSnapshot(this.orm.em.fork(), eventId);
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

function groupHolds(holds: { orderId: string; expiresAt: Date }[]): { orderIds: string[]; expiresAt: Date }[] {
  const groups = new Map<number, { orderIds: string[]; expiresAt: Date }>();
  for (const h of holds) {
    const group = groups.get(h.expiresAt.getTime()) ?? { orderIds: [], expiresAt: h.expiresAt };
    group.orderIds.push(h.orderId);
    groups.set(h.expiresAt.getTime(), group);
  }
  return [...groups.values()];
}
