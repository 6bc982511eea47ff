import { databaseNow } from '../infra/database.js';
import type { Infra } from '../infra/infra.js';
import { runConsumer, type Job } from '../infra/queue-consumer.js';
import type { HoldExpiry } from '../services/orders/hold-expiry.service.js';
import { HoldExpiryJob, isValid } from '../services/messages/queue-messages.js';
import type { Worker } from './worker.js';

const DURABLE = 'expiry-worker';
/**
 * Jobs waiting for their time stay unacknowledged in JetStream (nak with a delay), and count
 * against the consumer's max-ack-pending (MAX_ACK_PENDING); one job per booking batch, so a day of
 * sales keeps a few thousand waiting at most.
 */
const MAX_BATCH = 2500;
const MAX_ACK_PENDING = 4 * MAX_BATCH;
/** The reminder comes this long before the hold ends (or at half the hold, if that is shorter). */
const REMINDER_LEAD_MS = 60_000;
/** A PAYING order the provider could not cancel yet (e.g. `processing`) is tried again this much later. */
const PENDING_RETRY_MS = 15_000;
/** Deliveries of a job before it is due (published, reminder): planned, so not counted against QUEUE_MAX_DELIVER. */
const SCHEDULED_DELIVERIES = 2;

/**
 * Each booking batch publishes one delayed job for its orders' common hold end. A job is handled
 * up to three times: when published (not due: nak until the reminder time), at the reminder time
 * (HOLD_EXPIRING for orders still unpaid; nak until the end), and at the end (holds cancelled,
 * tickets back). "Due" is judged by Postgres' clock, read once per batch. The periodic sweep
 * (expiry.sweeper.ts) catches whatever a lost job leaves behind.
 */
export async function startExpiryWorker(infra: Infra, holds: HoldExpiry): Promise<Worker> {
  const { nats, orm, config, metrics } = infra;
  const log = infra.log.child({ worker: 'expiry' });
  const reminderLeadMs = Math.min(REMINDER_LEAD_MS, (config.booking.holdSeconds * 1000) / 2);

  const consumer = await runConsumer<HoldExpiryJob>({
    nats,
    log,
    metrics,
    maxDeliver: config.queue.maxDeliver + SCHEDULED_DELIVERIES,
    stream: nats.names.streams.expiry,
    durable: DURABLE,
    ackWaitMs: config.queue.ackWaitMs,
    maxBatch: MAX_BATCH,
    maxAckPending: MAX_ACK_PENDING,
    isValid: isValid(HoldExpiryJob),
    async handle(jobs) {
      const pgNow = (await databaseNow(orm)).getTime();
      const due: Job<HoldExpiryJob>[] = [];
      const remind: Job<HoldExpiryJob>[] = [];
      for (const job of jobs) {
        const left = Date.parse(job.data.expiresAt) - pgNow;
        if (left <= 0) due.push(job);
        else if (left <= reminderLeadMs) remind.push(job);
        else job.nak(left - reminderLeadMs);
      }

      if (remind.length > 0) {
        await holds.remind(remind.flatMap((j) => j.data.orderIds));
        for (const job of remind) job.nak(Math.max(1, Date.parse(job.data.expiresAt) - pgNow));
      }
      if (due.length > 0) {
        // Cancelling PAYING orders calls the provider once per order, which may outlast the ack
        // wait: runConsumer heartbeats the jobs meanwhile, so JetStream does not hand them to another worker.
        const result = await holds.expire(due.flatMap((j) => j.data.orderIds));
        if (result.cancelled > 0) log.info({ cancelled: result.cancelled }, 'holds expired');
        // Only a job with an order the provider could not cancel yet comes back; the others are done.
        const pending = new Set(result.pending);
        for (const job of due) {
          if (job.data.orderIds.some((id) => pending.has(id))) job.nak(PENDING_RETRY_MS);
          else job.ack();
        }
      }
    },
  });
  return { name: 'expiry', stop: () => consumer.stop() };
}
