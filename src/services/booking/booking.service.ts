import { hash } from 'node:crypto';
import { Repeater } from '@repeaterjs/repeater';
import type { Config } from '../../config.js';
import type { RequestContext } from '../../context.js';
import { Booking, BookingRejection, type BookingStatus } from '../../entities/booking.entity.js';
import { ConflictError, NotFoundError, UnavailableError } from '../../errors.js';
import type { BookingRecord, BookingRegistry } from '../../infra/booking-registry.js';
import type { Database } from '../../infra/database.js';
import type { HealthMonitor } from '../../infra/health.js';
import type { LiveBus } from '../../infra/live-bus.js';
import type { Nats } from '../../infra/nats.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import { BadInputError } from '../../errors.js';
import { queueBooking } from './booking-queue.js';
import type { EventCatalog } from '../events/event-catalog.js';
import { isUuid } from '../shared/validation.js';
import type { StockCounts } from '../events/stock-counts.js';
import type { BookingDecisionLive, LiveTopics } from '../messages/live-topics.js';

/** A booking as clients see it. */
export interface BookingView {
  id: string;
  userId: string;
  eventId: string;
  quantity: number;
  status: BookingStatus;
  reason: BookingRejection | null;
  orderId: string | null;
}

/** Longest a sold-out answer's record is kept (the others are kept as long, see BookingRegistry). */
const SOLD_OUT_RECORD_MAX_SECONDS = 7 * 86_400;

/** Booking ids are derived from (user, idempotency key): a retry names the same booking. */
const BOOKING_NAMESPACE = Buffer.from('6f0a4c1e2b7d4f5a9c3e8d1b2a7e4f60', 'hex');
export function bookingIdFor(userId: string, idempotencyKey: string): string {
  // UUIDv5 (RFC 9562) with node:crypto's one-shot hash: the uuid package builds a Hash object per
  // call, which on the sold-out path cost more than the rest of the booking rules. A test pins the
  // result to the uuid package's v5 for the same namespace and name.
  const hex = hash('sha1', Buffer.concat([BOOKING_NAMESPACE, Buffer.from(`${userId}:${idempotencyKey}`)]), 'hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export interface BookingServiceDeps {
  config: Config['booking'];
  catalog: EventCatalog;
  stock: StockCounts;
  registry: BookingRegistry;
  nats: Nats;
  live: LiveBus<LiveTopics>;
  health: HealthMonitor;
  metrics: Metrics;
  log: Logger;
  orm: Database;
  /** Refuses buyers without a valid admission to events that have a waiting room. */
  admission: { refuses(userId: string, eventId: string, admissionToken?: string | null): Promise<boolean> };
}

/**
 * The gateway side of booking. It answers at once, with no I/O, what it can (bad quantity, sale
 * not open, sold out); otherwise it records the attempt in Redis (rate limit, idempotency), queues
 * it on JetStream and waits up to BOOKING_WAIT_MS for a worker's decision, else answers QUEUED.
 */
export class BookingService {
  private readonly waiters = new Map<string, Set<(decision: BookingDecisionLive) => void>>();

  constructor(private readonly deps: BookingServiceDeps) {
    deps.live.listenAll('decisions', (_key, decisions) => {
      for (const d of decisions) for (const waiter of this.waiters.get(d.bookingId) ?? []) waiter(d);
    });
  }

  async book(
    ctx: RequestContext,
    args: { eventId: string; quantity?: number | null; idempotencyKey: string; admissionToken?: string | null },
  ): Promise<BookingView> {
    const user = ctx.user!;
    const key = args.idempotencyKey;
    if (key.length < 1 || key.length > 200) throw BadInputError.field('idempotencyKey', 'must be 1 to 200 characters');
    const event = isUuid(args.eventId)
      ? (this.deps.catalog.peek(args.eventId) ?? (await this.deps.catalog.get(args.eventId)))
      : null;
    if (!event) throw new NotFoundError('eventId: no such event');
    const quantity = args.quantity ?? 1;
    const view: BookingView = {
      id: bookingIdFor(user.id, key),
      userId: user.id,
      eventId: event.id,
      quantity,
      status: 'QUEUED',
      reason: null,
      orderId: null,
    };
    const reject = (reason: BookingRejection): BookingView => {
      this.deps.metrics.bookingAttempts.inc({ stage: 'gateway', outcome: reason });
      return { ...view, status: 'REJECTED', reason };
    };

    // Answers that need no I/O at all.
    if (!Number.isInteger(quantity) || quantity < 1 || quantity > event.maxPerUser) {
      return reject(BookingRejection.INVALID_QUANTITY);
    }
    const now = Date.now();
    if (now < event.saleStartsAt.getTime() || now >= event.startsAt.getTime()) {
      return reject(BookingRejection.NOT_ON_SALE);
    }
    const record: BookingRecord = {
      bookingId: view.id,
      userId: user.id,
      eventId: event.id,
      quantity,
      idempotencyKey: key,
      requestedAt: new Date(now).toISOString(),
      status: 'QUEUED',
      reason: null,
      orderId: null,
    };
    if (this.deps.stock.isSoldOut(event.id) && !this.deps.stock.mayHold(event.id, user.id)) {
      return this.rejectSoldOut(record, view, event.startsAt);
    }
    if (await this.deps.admission.refuses(user.id, event.id, args.admissionToken)) {
      return reject(BookingRejection.NOT_ADMITTED);
    }
    if (!this.deps.health.allUp()) throw this.unavailable('health');

    let admitted;
    try {
      admitted = await this.deps.registry.admit(
        record,
        { limit: this.deps.config.ratePerSecond, windowMs: 1000 },
        this.deps.config.decisionDeadlineMs,
      );
    } catch (err) {
      this.deps.health.reportFailure('redis', err);
      throw this.unavailable('redis');
    }
    switch (admitted.outcome) {
      case 'rate_limited':
        return reject(BookingRejection.RATE_LIMITED);
      case 'exists':
        return this.answerExisting(admitted.record, record, view);
      case 'new':
        return this.queueAndWait(record, view);
    }
  }

  /**
   * The sold-out flag's answer, recorded as the attempt's decision before it is given (one Redis
   * command, pipelined with the others of the moment; no Postgres, no queue): a key answered
   * SOLD_OUT stays SOLD_OUT when tickets come back, and `booking(id)` says so. An attempt that
   * already has a record (in flight, or decided) gets that one instead. The record lives while the
   * event can be sold.
   */
  private async rejectSoldOut(record: BookingRecord, view: BookingView, startsAt: Date): Promise<BookingView> {
    const rejected: BookingRecord = { ...record, status: 'REJECTED', reason: BookingRejection.SOLD_OUT };
    const ttlSeconds = Math.min(
      SOLD_OUT_RECORD_MAX_SECONDS,
      Math.max(60, Math.ceil((startsAt.getTime() - Date.now()) / 1000)),
    );
    let existing: BookingRecord | null;
    try {
      existing = await this.deps.registry.recordIfAbsent(rejected, ttlSeconds);
    } catch (err) {
      // Unrecorded, the answer could be contradicted later: nothing is said instead.
      this.deps.health.reportFailure('redis', err);
      throw this.unavailable('redis');
    }
    if (existing) {
      if (existing.status === 'QUEUED' && !this.deps.health.allUp()) throw this.unavailable('health');
      return this.answerExisting(existing, record, view);
    }
    this.deps.metrics.bookingAttempts.inc({ stage: 'gateway', outcome: BookingRejection.SOLD_OUT });
    return recordView(rejected);
  }

  /** A retry: the recorded decision, or, still undecided, queued again and waited for like the first call. */
  private async answerExisting(
    existing: BookingRecord,
    record: BookingRecord,
    view: BookingView,
  ): Promise<BookingView> {
    if (existing.eventId !== record.eventId || existing.quantity !== record.quantity) {
      throw idempotencyKeyConflict();
    }
    if (existing.status !== 'QUEUED') return recordView(existing);
    // JetStream drops the duplicate publish.
    return this.queueAndWait(existing, view);
  }

  /** The booking if it belongs to the caller; null for unknown ids and other users' bookings alike. */
  async get(ctx: RequestContext, id: string): Promise<BookingView | null> {
    if (!ctx.user || !isUuid(id)) return null;
    let view: BookingView | null = null;
    try {
      const record = await this.deps.registry.get(ctx.user.id, id);
      if (record) view = recordView(record);
    } catch {
      // Redis is down: Postgres has every decided booking.
    }
    if (!view) {
      const row = await ctx.em.findOne(Booking, { id });
      if (row) view = rowView(row);
    }
    return view && view.userId === ctx.user.id ? view : null;
  }

  /** The booking now, then its decision once it is made; completes after the decision. */
  updates(ctx: RequestContext, id: string): AsyncIterableIterator<BookingView> {
    return new Repeater<BookingView>(async (push, stop) => {
      let resolveDecision: (d: BookingDecisionLive) => void = () => undefined;
      const decided = new Promise<BookingDecisionLive>((resolve) => (resolveDecision = resolve));
      const unlisten = this.listen(id, (d) => resolveDecision(d));
      try {
        const current = await this.get(ctx, id);
        if (!current) throw new NotFoundError('No such booking');
        await push(current);
        if (current.status === 'QUEUED') {
          const decision = await Promise.race([decided, stop.then(() => null)]);
          if (decision) await push({ ...current, ...decisionView(decision) });
        }
      } finally {
        unlisten();
      }
      stop();
    });
  }

  private async queueAndWait(record: BookingRecord, view: BookingView): Promise<BookingView> {
    // Listen before publishing: a fast worker may decide before publish() returns.
    let resolveDecision: (d: BookingDecisionLive | null) => void = () => undefined;
    const decision = new Promise<BookingDecisionLive | null>((resolve) => (resolveDecision = resolve));
    const unlisten = this.listen(record.bookingId, resolveDecision);
    const timer = setTimeout(() => resolveDecision(null), this.deps.config.waitMs);
    try {
      try {
        const ack = await queueBooking(this.deps.nats, record, record.bookingId);
        // JetStream already had this attempt: it may have been decided while Redis forgot it.
        if (ack.duplicate) {
          const earlier = await this.decidedInPostgres(record);
          if (earlier) return earlier;
        }
      } catch (err) {
        // The message may or may not have been stored (e.g. no acknowledgement in time). The attempt
        // stays recorded as QUEUED, so the sweep queues it again if it was lost: answering QUEUED is
        // the truth, and it will be decided exactly once either way.
        this.deps.log.warn({ err, bookingId: record.bookingId }, 'booking publish not acknowledged; left to the sweep');
      }
      const decided = await decision;
      if (!decided) {
        this.deps.metrics.bookingAttempts.inc({ stage: 'gateway', outcome: 'QUEUED' });
        return view;
      }
      if (decided.conflict) {
        throw idempotencyKeyConflict();
      }
      return { ...view, ...decisionView(decided) };
    } finally {
      clearTimeout(timer);
      unlisten();
    }
  }

  /** A decision Postgres already has for this attempt, copied back into Redis. */
  private async decidedInPostgres(record: BookingRecord): Promise<BookingView | null> {
    const row = await this.deps.orm.em.fork().findOne(Booking, { id: record.bookingId });
    if (!row) return null;
    if (row.eventId !== record.eventId || row.quantity !== record.quantity) {
      throw idempotencyKeyConflict();
    }
    const view = rowView(row);
    await this.deps.registry.recordDecisions([
      { ...record, status: view.status, reason: view.reason, orderId: view.orderId },
    ]);
    return view;
  }

  private listen(bookingId: string, fn: (d: BookingDecisionLive) => void): () => void {
    let set = this.waiters.get(bookingId);
    if (!set) this.waiters.set(bookingId, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.waiters.delete(bookingId);
    };
  }

  private unavailable(dependency: string): UnavailableError {
    this.deps.metrics.bookingAttempts.inc({ stage: 'gateway', outcome: 'UNAVAILABLE' });
    return new UnavailableError(
      `Booking is unavailable right now (${dependency}); nothing was booked, try again shortly`,
    );
  }
}

/** A retry under the same key must name the same booking: same event, same quantity. */
function idempotencyKeyConflict(): ConflictError {
  return new ConflictError('idempotencyKey: already used for a booking with other arguments', {
    field: 'idempotencyKey',
  });
}

function decisionView(d: BookingDecisionLive): Pick<BookingView, 'status' | 'reason' | 'orderId'> {
  return { status: d.status, reason: d.reason, orderId: d.orderId };
}

function recordView(r: BookingRecord): BookingView {
  return {
    id: r.bookingId,
    userId: r.userId,
    eventId: r.eventId,
    quantity: r.quantity,
    status: r.status,
    reason: r.reason as BookingRejection | null,
    orderId: r.orderId,
  };
}

function rowView(b: Booking): BookingView {
  return {
    id: b.id,
    userId: b.userId,
    eventId: b.eventId,
    quantity: b.quantity,
    status: b.status,
    reason: b.reason ?? null,
    orderId: b.orderId ?? null,
  };
}
