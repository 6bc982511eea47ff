import type { Infra } from '../infra/infra.js';
import type { BookingRegistry } from '../infra/booking-registry.js';
import { runConsumer } from '../infra/queue-consumer.js';
import { BookingBatchService } from '../services/booking/booking-batches.service.js';
import type { BookingDecider } from '../services/booking/booking-decider.js';
import { BookingRequest, isValid } from '../services/messages/queue-messages.js';
import type { Worker } from './worker.js';

const DURABLE = 'booking-worker';
const BACKLOG_POLL_MS = 2000;

/**
 * Decides booking attempts in batches (BookingBatchService), then acknowledges them.
 *
 * An attempt Postgres refuses to store is rejected by the decider without holding up its batch.
 * One that fails every delivery (QUEUE_MAX_DELIVER) is dead-lettered, and before that closed as a
 * REJECTED decision with the same effects, so it is no longer pending: the sweep leaves it alone
 * and Redis gives its tickets back.
 */
export async function startBookingWorker(
  infra: Infra,
  decider: BookingDecider,
  registry: BookingRegistry,
  opts: { maxBatch: number },
): Promise<Worker> {
  const { nats, live, metrics, log, config, reads } = infra;
  const batches = new BookingBatchService({ decider, registry, reads, nats, live, metrics, log });

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
      await batches.decide(jobs.map((j) => j.data));
      for (const job of jobs) job.ack();
    },
    onDeadLetter: (requests) => batches.abandon(requests),
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
