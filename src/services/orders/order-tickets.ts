import { BookingRejection } from '../../entities/booking.entity.js';
import type { Order } from '../../entities/order.entity.js';
import { rejectedMemory } from '../../infra/gate-memory.js';
import type { EntityManager } from '../../infra/database.js';
import type { LiveBus } from '../../infra/live-bus.js';
import type { StockGate, StockVersion } from '../../infra/stock-gate.js';
import type { EventCatalog } from '../events/event-catalog.js';
import { changeStock, stockVersion } from '../events/stock.repository.js';
import type { BookingDecider } from '../booking/booking-decider.js';
import type { LiveTopics } from '../messages/live-topics.js';

type TicketsOfOrder = Pick<Order, 'id' | 'eventId' | 'userId' | 'quantity'>;

/**
 * Moves an existing order's tickets in and out of stock after booking: back on sale when a hold
 * ends or is given up, and taken again when money arrives for a cancelled order. The Postgres
 * half runs in the caller's transaction, next to the order's status change; the Redis half and
 * the live count follow after the commit (and are repaired by the stock sweep if a crash skips them).
 */
export class OrderTickets {
  constructor(
    private readonly gate: StockGate,
    private readonly catalog: EventCatalog,
    private readonly decider: BookingDecider,
    private readonly live: LiveBus<LiveTopics>,
  ) {}

  /**
   * In the caller's transaction: the orders' tickets go back to the stock rows, one update per
   * event (in event-id order, as the booking decider locks them), however many holds end at once,
   * so the hot stock row is locked for one statement per batch, not one per order.
   */
  async releaseInTx(em: EntityManager, orders: readonly TicketsOfOrder[]): Promise<Map<string, StockVersion>> {
    const byEvent = new Map<string, number>();
    for (const o of orders) byEvent.set(o.eventId, (byEvent.get(o.eventId) ?? 0) + o.quantity);
    const versions = new Map<string, StockVersion>();
    for (const eventId of [...byEvent.keys()].sort()) {
      versions.set(eventId, (await changeStock(em, eventId, byEvent.get(eventId)!))!);
    }
    return versions;
  }

  /**
   * After the release committed: Redis learns each buyer's tickets back and the new count, and
   * every gateway the count, once per event. The mark names the order and the stock version of
   * this release, so a repeat of it is applied once, while a later release of the same order
   * (after its tickets were taken again) still counts.
   */
  async afterRelease(orders: readonly TicketsOfOrder[], versions: Map<string, StockVersion>): Promise<void> {
    for (const [eventId, pg] of versions) {
      const released = orders.filter((o) => o.eventId === eventId);
      const counts = await Promise.all(
        released.map((o) => this.gate.adjust(eventId, pg, o.userId, -o.quantity, `release:${o.id}:${pg.version}`)),
      );
      this.publish(eventId, counts.at(-1) ?? pg.available, pg.version);
    }
  }

  /**
   * Step 1 of taking a cancelled order's tickets again, through the same gate as a booking (stock
   * and the buyer's limit). False when the gate says no; then nothing was taken.
   */
  async reserveAgain(order: TicketsOfOrder): Promise<boolean> {
    const event = await this.catalog.get(order.eventId);
    if (!event) return false;
    const attempt = { bookingId: retakeId(order), userId: order.userId, quantity: order.quantity };
    let decisions = await this.gate.reserve(order.eventId, event.maxPerUser, [attempt]);
    if (!decisions) {
      await this.gate.load(order.eventId, await this.decider.snapshot(order.eventId));
      decisions = await this.gate.reserve(order.eventId, event.maxPerUser, [attempt]);
    }
    return decisions?.[0]?.status === 'RESERVED';
  }

  /**
   * Step 2, in the caller's transaction: takes the tickets from the stock row if it still has them
   * (Postgres has the last word). Null when it does not; the caller then refunds.
   */
  async takeInTx(em: EntityManager, order: TicketsOfOrder): Promise<StockVersion | null> {
    return changeStock(em, order.eventId, -order.quantity, { onlyIfEnough: true });
  }

  /** Step 3, after the commit: tells the gate whether Postgres took them (`pg` set) or not. */
  async settleRetake(order: TicketsOfOrder, pg: StockVersion | null, current: StockVersion): Promise<void> {
    const attempt = { bookingId: retakeId(order), userId: order.userId, quantity: order.quantity };
    const redis = pg
      ? await this.gate.settle(order.eventId, pg, { committed: [attempt] })
      : await this.gate.settle(order.eventId, current, {
          refused: [{ ...attempt, decision: rejectedMemory(BookingRejection.SOLD_OUT) }],
        });
    this.publish(order.eventId, redis ?? (pg ?? current).available, (pg ?? current).version);
  }

  /** Postgres' stock row as it is now (for settling a refused retake). */
  async current(em: EntityManager, eventId: string): Promise<StockVersion> {
    return (await stockVersion(em, eventId))!;
  }

  private publish(eventId: string, available: number, version: number): void {
    this.live.publish('stock', eventId, { eventId, available, version, at: new Date().toISOString() });
  }
}

/** The gate's id for a retake: one per order, so repeating a retake never takes twice. */
function retakeId(order: TicketsOfOrder): string {
  return `retake:${order.id}`;
}
