import type { Infra } from '../infra/infra.js';
import type { BookingRecord, BookingRegistry } from '../infra/booking-registry.js';
import { runConsumer } from '../infra/queue-consumer.js';
import type { BatchOutcome, BookingDecider } from '../services/booking-decider.js';
import { BookingRequest, isValid, type HoldExpiryJob } from '../services/queue-messages.js';
import type { Worker } from './worker.js';

const DURABLE = 'booking-worker';
const BACKLOG_POLL_MS = 2000;

/**
 * Decides booking attempts in batches: the decider takes one Redis call and one Postgres
 * transaction per batch; then the effects, each safe to repeat if the batch is redelivered:
 * the Redis records, the live decisions and stock count, the hold-expiry job, and the acks.
 *
 * An attempt Postgres refuses to store is rejected by the decider without holding up its batch.
 * One that fails every delivery (QUEUE_MAX_DELIVER) is dead-lettered, and before that closed as a
 * REJECTED decision with the same effects, so it is no longer pending: the sweep leaves it alone
 * and Redis gives its tickets back. If Postgres cannot be asked then, it is left pending: an
 * earlier delivery may have committed it, and the sweep takes Postgres' decision once it answers.
 */
export async function startBookingWorker(
  infra: Infra,
  decider: BookingDecider,
  registry: BookingRegistry,
  opts: { maxBatch: number },
): Promise<Worker> {
  const { nats, live, metrics, log, config } = infra;

  async function apply(requests: readonly BookingRequest[], outcome: BatchOutcome): Promise<void> {
    const byId = new Map(requests.map((r) => [r.bookingId, r]));
    for (const refused of outcome.refused) {
      log.warn(refused, 'booking attempt refused by Postgres; rejected');
    }
    await registry.recordDecisions(
      outcome.decisions.map((d): BookingRecord => ({
        ...byId.get(d.bookingId)!,
        status: d.status,
        reason: d.reason,
        orderId: d.orderId,
      })),
    );
    live.publish('decisions', 'all', outcome.decisions);
    const at = new Date().toISOString();
    for (const s of outcome.stock) {
      live.publish('stock', s.eventId, {
        eventId: s.eventId,
        available: s.redis ?? s.pg.available,
        version: s.pg.version,
        at,
      });
    }
    // Expiry jobs for every open hold of the batch; a repeat after a crash is dropped by JetStream or harmless.
    for (const hold of outcome.holds) {
      const job: HoldExpiryJob = { orderIds: hold.orderIds, expiresAt: hold.expiresAt.toISOString() };
      await nats.js.publish(nats.names.jobs.holdExpiry, JSON.stringify(job), { msgID: `hold-${job.orderIds[0]}` });
    }
    metrics.orderTransitions.inc({ status: 'UNPAID' }, outcome.created); // orders created

    const decidedAt = Date.now();
    for (const d of outcome.decisions) {
      metrics.bookingAttempts.inc({
        stage: 'worker',
        outcome: d.status === 'RESERVED' ? 'RESERVED' : (d.reason ?? 'REJECTED'),
      });
      metrics.bookingDecisionSeconds.observe((decidedAt - Date.parse(byId.get(d.bookingId)!.requestedAt)) / 1000);
    }
  }

  const consumer = await runConsumer<BookingRequest>({
    nats,
    log,
    metrics,
    stream: nats.names.streams.bookings,
    durable: DURABLE,
    ackWaitMs: config.queue.ackWaitMs,
    maxBatch: opts.maxBatch,
    maxDeliver: config.queue.maxDeliver,
    isValid: isValid(BookingRequest),
    async handle(jobs) {
      const requests = jobs.map((j) => j.data);
      // An attempt the gateway has already answered (SOLD_OUT from its flag, after Redis lost the
      // attempt's record) keeps that answer; the others are recorded as in flight first.
      const answered = await registry.claim(requests);
      await apply(requests, await decider.decide(requests, answered));
      metrics.bookingBatchSize.observe(requests.length);
      for (const job of jobs) job.ack();
    },
    async onDeadLetter(requests) {
      await apply(requests, await decider.abandon(requests));
    },
  });

  // The backlog is what operators watch during a sale.
  const poll = setInterval(() => {
    nats.jsm.consumers
      .info(nats.names.streams.bookings, DURABLE)
      .then((info) => metrics.bookingQueuePending.set(info.num_pending + info.num_ack_pending))
      .catch(() => undefined);
  }, BACKLOG_POLL_MS);
  poll.unref();

  return {
    name: 'booking',
    async stop() {
      clearInterval(poll);
      await consumer.stop();
    },
  };
}
