import type { BookingRecord, BookingRegistry } from '../../infra/booking-registry.js';
import type { DatabaseReads } from '../../infra/database-reads.js';
import type { LiveBus } from '../../infra/live-bus.js';
import type { Nats } from '../../infra/nats.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import type { LiveTopics } from '../messages/live-topics.js';
import type { BookingRequest } from '../messages/queue-messages.js';
import type { BatchOutcome, BookingDecider } from './booking-decider.js';
import { queueHoldExpiry } from './booking-queue.js';

export interface BookingBatchDeps {
  decider: BookingDecider;
  registry: BookingRegistry;
  reads: DatabaseReads;
  nats: Nats;
  live: LiveBus<LiveTopics>;
  metrics: Metrics;
  log: Logger;
}

/**
 * The booking worker's side: a batch of attempts decided (one Redis call and one Postgres
 * transaction, see BookingDecider), then the effects, each safe to repeat if the batch is
 * redelivered: the Redis records, the live decisions and stock count, the hold-expiry jobs.
 */
export class BookingBatchService {
  constructor(private readonly deps: BookingBatchDeps) {}

  /** Decides a batch taken from the queue; throws on a passing fault (the queue redelivers). */
  async decide(requests: readonly BookingRequest[]): Promise<void> {
    // An attempt the gateway has already answered (SOLD_OUT from its flag, after Redis lost the
    // attempt's record) keeps that answer; the others are recorded as in flight first.
    const answered = await this.deps.registry.claim(requests);
    await this.apply(requests, await this.deps.decider.decide(requests, answered));
    this.deps.metrics.bookingBatchSize.observe(requests.length);
  }

  /** Closes attempts the queue gave up on, with the same effects as a decision. */
  async abandon(requests: readonly BookingRequest[]): Promise<void> {
    await this.apply(requests, await this.deps.decider.abandon(requests));
  }

  private async apply(requests: readonly BookingRequest[], outcome: BatchOutcome): Promise<void> {
    const { registry, live, nats, metrics, log } = this.deps;
    const byId = new Map(requests.map((r) => [r.bookingId, r]));
    for (const refused of outcome.refused) {
      log.warn(refused, 'booking attempt refused by Postgres; rejected');
    }
    // Before any answer leaves: a buyer told RESERVED finds the new order in myOrders.
    await this.deps.reads.wrote(outcome.decisions.filter((d) => d.orderId !== null).map((d) => d.userId));
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
    for (const hold of outcome.holds) await queueHoldExpiry(nats, hold);
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
}
