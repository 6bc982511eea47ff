import type { Infra } from '../infra/infra.js';
import type { BookingRegistry } from '../infra/booking-registry.js';
import type { BookingDecisionLive } from '../services/live-topics.js';
import { queueBooking } from '../services/booking-queue.js';
import { runPeriodically, type PeriodicWorker } from './periodic.js';

/** Overdue attempts looked at per registry group and round (16 groups: up to 1024 a round). */
const BATCH = 64;

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
    lock: { redis, key: `${config.namespace}:lock:booking-sweeper` },
    async task() {
      const now = Date.now();
      const refs = await registry.overdue(now, BATCH);
      if (refs.length === 0) return;
      const ids = refs.map((r) => r.bookingId);
      const decided = await orm.em.fork().execute<
        {
          id: string;
          user_id: string;
          event_id: string;
          status: 'RESERVED' | 'REJECTED';
          reason: string | null;
          order_id: string | null;
        }[]
      >(`select id, user_id, event_id, status, reason, order_id from bookings where id in (?)`, [ids]);
      const decidedById = new Map(decided.map((d) => [d.id, d]));
      const announcements: BookingDecisionLive[] = [];
      for (const ref of refs) {
        const id = ref.bookingId;
        const record = await registry.lookup(ref);
        if (!record || record.status !== 'QUEUED') {
          await registry.dropPending(ref);
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
        const attempt = await registry.postpone(ref, now + config.booking.decisionDeadlineMs);
        if (attempt === 0) continue;
        await queueBooking(nats, record, `${id}:retry:${attempt}`);
        log.warn({ bookingId: id, attempt }, 'booking attempt had no decision in time; queued again');
      }
      if (announcements.length) live.publish('decisions', 'all', announcements);
    },
  });
}
