import { randomUUID } from 'node:crypto';
import { BookingRejection } from '../../entities/booking.entity.js';
import type { Event } from '../../entities/event.entity.js';
import { rejectedMemory, reservedMemory, type GateMemory } from '../../infra/gate-memory.js';
import type { GateAttempt, GateDecision } from '../../infra/stock-gate.js';
import type { BookingDecisionLive } from '../messages/live-topics.js';
import type { BookingRequest } from '../messages/queue-messages.js';
import type { OrderFields } from '../orders/order.repository.js';
import type { LockedStock } from '../events/stock.repository.js';
import type { NewBooking, PriorBooking } from './booking.repository.js';

/** The outcome of one attempt. */
export type Decision = BookingDecisionLive;

/** What the batch's transaction knows when it decides: every input below is read before the loop. */
export interface BatchFacts {
  events: Map<string, Event>;
  /** The batch's users that exist. */
  users: Set<string>;
  /** The gate's answer per booking id (absent: decided without the gate). */
  gated: Map<string, GateDecision>;
  /**
   * Attempts a client was already answered REJECTED for (booking id → reason, '' for none) without
   * Postgres knowing; unless Postgres decided them, that answer is their decision.
   */
  answered: ReadonlyMap<string, string>;
  /** The events' stock rows, locked; `available` is counted down as tickets are taken. */
  stock: Map<string, LockedStock>;
  /** Attempts Postgres decided before. */
  prior: Map<string, PriorBooking>;
  /** The transaction's time, and the end of the holds it creates. */
  now: Date;
  expiresAt: Date;
}

/**
 * The booking rules for one batch, without I/O: each attempt is decided in order against the
 * facts, and what the transaction must write (bookings, orders, tickets taken per event) and what
 * the gate must be told afterwards (per event: committed, confirmed, refused) accumulate here.
 */
export class BatchDecisions {
  readonly decisions: Decision[] = [];
  /** Inserted by this transaction, and found already in Postgres (a redelivery), per event. */
  readonly committed = new Map<string, GateAttempt[]>();
  readonly confirmed = new Map<string, GateAttempt[]>();
  readonly refused = new Map<string, (GateAttempt & { decision: GateMemory })[]>();
  /** Tickets taken per event. */
  readonly taken = new Map<string, number>();
  readonly newBookings: NewBooking[] = [];
  readonly newOrders: OrderFields[] = [];

  constructor(private readonly facts: BatchFacts) {}

  decide(r: BookingRequest): void {
    const prior = this.facts.prior.get(r.bookingId);
    if (prior) this.decidedBefore(r, prior);
    else if (!this.facts.users.has(r.userId)) {
      // A validly signed token for a user Postgres does not know (a deleted account, a token
      // minted with this secret elsewhere): no row can reference it, so it is refused here
      // rather than failing its whole batch forever. No BookingRejection fits; no reason given.
      this.decisions.push(decisionOf(r, 'REJECTED', null, null));
    } else this.decideNew(r);
  }

  /** Decided before (a redelivery, or Redis forgot): Postgres' decision stands. */
  private decidedBefore(r: BookingRequest, prior: PriorBooking): void {
    const gate = this.facts.gated.get(r.bookingId);
    const conflict = prior.eventId !== r.eventId || prior.quantity !== r.quantity;
    this.decisions.push({
      ...decisionOf(r, prior.status === 'RESERVED' ? 'RESERVED' : 'REJECTED', prior.reason, prior.orderId),
      ...(conflict ? { conflict: true } : {}),
    });
    if (gate?.status !== 'RESERVED') return;
    const sameReservation = !gate.fresh && !conflict && prior.status === 'RESERVED';
    if (sameReservation) push(this.confirmed, r.eventId, r);
    else push(this.refused, r.eventId, { ...r, decision: conflict ? rejectedMemory('CONFLICT') : memoryOf(prior) });
  }

  private decideNew(r: BookingRequest): void {
    const gate = this.facts.gated.get(r.bookingId);
    const event = this.facts.events.get(r.eventId);
    const stock = this.facts.stock.get(r.eventId);
    const rejection = this.rejection(r, gate, event, stock);
    if (rejection === undefined && event && stock) {
      stock.available -= r.quantity;
      this.taken.set(r.eventId, (this.taken.get(r.eventId) ?? 0) + r.quantity);
      const orderId = randomUUID();
      const { now, expiresAt } = this.facts;
      this.newBookings.push({ request: r, status: 'RESERVED', reason: null, orderId });
      this.newOrders.push({
        id: orderId,
        bookingId: r.bookingId,
        userId: r.userId,
        eventId: r.eventId,
        quantity: r.quantity,
        amount: r.quantity * event.price,
        currency: event.currency,
        status: 'UNPAID',
        expiresAt,
        createdAt: now,
        updatedAt: now,
      });
      push(this.committed, r.eventId, r);
      this.decisions.push(decisionOf(r, 'RESERVED', null, orderId));
      return;
    }
    const reason = rejection === undefined ? BookingRejection.SOLD_OUT : rejection;
    this.newBookings.push({ request: r, status: 'REJECTED', reason, orderId: null });
    if (gate?.status === 'RESERVED') push(this.refused, r.eventId, { ...r, decision: rejectedMemory(reason) });
    this.decisions.push(decisionOf(r, 'REJECTED', reason, null));
  }

  /** Why a new attempt is rejected (null: without a reason), or undefined when it may take tickets. */
  private rejection(
    r: BookingRequest,
    gate: GateDecision | undefined,
    event: Event | undefined,
    stock: LockedStock | undefined,
  ): BookingRejection | null | undefined {
    const given = this.facts.answered.get(r.bookingId);
    if (given !== undefined) return (given || null) as BookingRejection | null;
    if (!event || !stock || !stock.on_sale) return BookingRejection.NOT_ON_SALE;
    if (r.quantity > event.maxPerUser) return BookingRejection.INVALID_QUANTITY;
    // The gate's answer, or the one it remembers ('' for a rejection without a reason, see rejectedMemory).
    if (gate?.status === 'REJECTED') return (gate.reason || null) as BookingRejection | null;
    if (stock.available < r.quantity) return BookingRejection.SOLD_OUT; // Postgres has the last word
    return undefined;
  }
}

export function decisionOf(
  r: BookingRequest,
  status: Decision['status'],
  reason: BookingRejection | null,
  orderId: string | null,
): Decision {
  return { bookingId: r.bookingId, userId: r.userId, eventId: r.eventId, status, reason, orderId };
}

/** What the gate should remember for a booking Postgres decided earlier. */
function memoryOf(prior: Pick<PriorBooking, 'status' | 'reason'>): GateMemory {
  return prior.status === 'RESERVED' ? reservedMemory() : rejectedMemory(prior.reason);
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  map.set(key, [...(map.get(key) ?? []), value]);
}
