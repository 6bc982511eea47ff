import type { Database } from '../../infra/database.js';
import type { BookingRegistry } from '../../infra/booking-registry.js';
import type { LiveBus } from '../../infra/live-bus.js';
import type { Nats } from '../../infra/nats.js';
import type { Logger } from '../../logger.js';
import type { BookingDecisionLive, LiveTopics } from '../messages/live-topics.js';
import { queueBooking } from './booking-queue.js';
import { decidedBookings } from './booking.repository.js';

export interface OverdueBookingsDeps {
  orm: Database;
  registry: BookingRegistry;
  nats: Nats;
  live: LiveBus<LiveTopics>;
  log: Logger;
  /** How long an attempt queued again has before it is overdue again. */
  decisionDeadlineMs: number;
}

/**
 * Makes sure every attempt answered QUEUED reaches a decision. JetStream on one node can lose an
 * acknowledged message in a crash, and a decision's live message can be lost too, so attempts
 * past their deadline are looked up in Postgres and queued again (workers decide each booking id
 * once, however often it comes); those Postgres decided are also completed in Redis and announced.
 * An attempt a worker rejected (its data refused by Postgres, or dead-lettered) is decided too: its
 * REJECTED is recorded in Redis even when Postgres could not store it, so it is never queued again.
 */
export class OverdueBookings {
  constructor(private readonly deps: OverdueBookingsDeps) {}

  /** One round over up to `batch` attempts past their deadline. */
  async sweep(batch: number): Promise<void> {
    const { registry, orm, nats, live, log } = this.deps;
    const refs = await registry.overdue(batch);
    if (refs.length === 0) return;
    const ids = refs.map((r) => r.bookingId);
    const decided = await decidedBookings(orm.em.fork(), ids);
    const decidedById = new Map(decided.map((d) => [d.id, d]));
    const announcements: BookingDecisionLive[] = [];
    for (const ref of refs) {
      const id = ref.bookingId;
      const record = await registry.lookup(ref);
      if (!record || record.status !== 'QUEUED') {
        await registry.dropPending(ref);
        continue;
      }
      // Postponed first, and only while still QUEUED: a worker's decision recorded in between
      // (a rejection, a dead-lettered attempt's close) is never undone by queueing it again.
      const attempt = await registry.postpone(ref, this.deps.decisionDeadlineMs);
      if (attempt === 0) continue;
      // Queued again even when Postgres has decided it: the batch that decided it may not have
      // told Redis (its tickets still counted in flight, e.g. dead-lettered while Postgres was
      // away); the worker that takes it again keeps Postgres' decision and settles the gate.
      await queueBooking(nats, record, `${id}:retry:${attempt}`);
      const d = decidedById.get(id);
      if (!d) {
        log.warn({ bookingId: id, attempt }, 'booking attempt had no decision in time; queued again');
        continue;
      }
      // Answered now from Postgres rather than after the queue.
      const decision = { status: d.status, reason: d.reason, orderId: d.order_id };
      await registry.recordDecisions([{ ...record, ...decision }]);
      announcements.push({
        bookingId: id,
        userId: d.user_id,
        eventId: d.event_id,
        ...decision,
      } as BookingDecisionLive);
    }
    if (announcements.length) live.publish('decisions', 'all', announcements);
  }
}
