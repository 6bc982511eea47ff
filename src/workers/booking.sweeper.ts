import type { Infra } from '../infra/infra.js';
import type { BookingRegistry } from '../infra/booking-registry.js';
import type { BookingDecisionLive } from '../services/messages/live-topics.js';
import { queueBooking } from '../services/booking/booking-queue.js';
import { decidedBookings } from '../services/booking/booking.repository.js';
import { runPeriodically, type PeriodicWorker } from './periodic.js';

const BATCH = 500;

/**
 * Makes sure every attempt answered QUEUED reaches a decision. JetStream on one node can lose an
 * acknowledged message in a crash, and a decision's live message can be lost too, so attempts
 * past their deadline are looked up in Postgres: decided ones are completed in Redis and announced
 * again; undecided ones are queued again (workers decide each booking id once, however often it comes).
 * An attempt a worker rejected (its data refused by Postgres, or dead-lettered) is decided too: its
 * REJECTED is recorded in Redis even when Postgres could not store it, so it is never queued again.
 */
export function startBookingSweeper(infra: Infra, registry: BookingRegistry): PeriodicWorker {
  const { nats, live, orm, log, redis, config } = infra;
  return runPeriodically({
    name: 'booking-sweeper',
    intervalMs: config.sweepIntervalMs,
    log,
    lock: { redis, namespace: config.namespace },
    async task() {
      const now = Date.now();
      const ids = await registry.overdue(now, BATCH);
      if (ids.length === 0) return;
      const decided = await decidedBookings(orm.em.fork(), ids);
      const decidedById = new Map(decided.map((d) => [d.id, d]));
      const announcements: BookingDecisionLive[] = [];
      for (const id of ids) {
        const record = await registry.get(id);
        if (!record || record.status !== 'QUEUED') {
          await registry.dropPending(id);
          continue;
        }
        const d = decidedById.get(id);
        if (d) {
          const decision = { status: d.status, reason: d.reason, orderId: d.order_id };
          await registry.recordDecisions([{ ...record, ...decision }]);
          announcements.push({
            bookingId: id,
            userId: d.user_id,
            eventId: d.event_id,
            ...decision,
          } as BookingDecisionLive);
          continue;
        }
        // Postponed first, and only while still QUEUED: a worker's decision recorded in between
        // (a rejection, a dead-lettered attempt's close) is never undone by queueing it again.
        const attempt = await registry.postpone(id, now + config.booking.decisionDeadlineMs);
        if (attempt === 0) continue;
        await queueBooking(nats, record, `${id}:retry:${attempt}`);
        log.warn({ bookingId: id, attempt }, 'booking attempt had no decision in time; queued again');
      }
      if (announcements.length) live.publish('decisions', 'all', announcements);
    },
  });
}
