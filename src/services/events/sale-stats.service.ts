import type { RequestContext } from '../../context.js';
import { OrderStatus } from '../../entities/order.entity.js';
import { NotFoundError, UnavailableError } from '../../errors.js';
import type { Nats } from '../../infra/nats.js';
import { isUuid } from '../shared/validation.js';
import { orderCountsByStatus, saleStock, saleTimeline } from './sale-stats.repository.js';

/** Rates are averaged over this many recent seconds, so one busy second does not make the gauge jump. */
export const RATE_WINDOW_SECONDS = 10;
/** The timeline covers this many seconds, one point a second, newest last. */
export const TIMELINE_SECONDS = 60;

export interface SalePoint {
  at: Date;
  reservations: number;
  payments: number;
}

export interface SaleStatsView {
  eventId: string;
  ticketsTotal: number;
  ticketsLeft: number;
  reservationsPerSecond: number;
  paymentsPerSecond: number;
  ordersByStatus: { status: OrderStatus; count: number }[];
  queueLength: number;
  at: Date;
  timeline: SalePoint[];
}

/**
 * What an operator watches during a sale, read straight from Postgres (stock and orders) and from
 * the booking stream: not from /metrics, whose counters are per process and not per event.
 */
export class SaleStatsService {
  constructor(private readonly nats: Nats) {}

  async get(ctx: RequestContext, eventId: string): Promise<SaleStatsView> {
    if (!isUuid(eventId)) throw new NotFoundError('No such event');
    const stock = await saleStock(ctx.em, eventId);
    if (!stock) throw new NotFoundError('No such event');
    const [counts, timeline, queueLength] = await Promise.all([
      orderCountsByStatus(ctx.em, eventId),
      saleTimeline(ctx.em, eventId, stock.now, TIMELINE_SECONDS),
      this.pendingBookings(eventId),
    ]);
    const byStatus = new Map(counts.map((c) => [c.status, Number(c.n)]));
    const points = timeline.map((p) => ({
      at: new Date(p.at),
      reservations: Number(p.reservations),
      payments: Number(p.payments),
    }));
    const recent = points.slice(-RATE_WINDOW_SECONDS);
    const rate = (pick: (p: SalePoint) => number) =>
      Math.round((recent.reduce((sum, p) => sum + pick(p), 0) / RATE_WINDOW_SECONDS) * 10) / 10;
    return {
      eventId,
      ticketsTotal: stock.total,
      ticketsLeft: stock.available,
      reservationsPerSecond: rate((p) => p.reservations),
      paymentsPerSecond: rate((p) => p.payments),
      ordersByStatus: Object.values(OrderStatus).map((status) => ({ status, count: byStatus.get(status) ?? 0 })),
      queueLength,
      at: new Date(stock.now),
      timeline: points,
    };
  }

  /**
   * Booking attempts of this event waiting in (or being decided from) the work-queue stream: a
   * message leaves the stream once a worker acknowledges its decision.
   */
  private async pendingBookings(eventId: string): Promise<number> {
    const subject = this.nats.names.jobs.bookingRequested(eventId);
    try {
      const info = await this.nats.jsm.streams.info(this.nats.names.streams.bookings, { subjects_filter: subject });
      return info.state.subjects?.[subject] ?? 0;
    } catch {
      throw new UnavailableError();
    }
  }
}
