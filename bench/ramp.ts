import { setTimeout as sleep } from 'node:timers/promises';
import { bookingIdFor } from '../src/services/booking/booking.service.js';
import { Attempts, type AttemptFigures } from './attempts.js';
import type { Ctx } from './context.js';
import { serverDecisionTimes } from './decision-times.js';
import { checkInvariants, invariantsNote, type InvariantCheck } from './invariants.js';
import { HttpClient, openLoop } from './load.js';
import { bookPayload, parseHttpBooking, type Parsed } from './operations.js';
import { POLLERS, QueuedPoller } from './queued-poller.js';
import { createEvent, type Users } from './seed.js';
import { group } from './stats.js';
import { Timeline, renderTimeline, withCpu, type PhaseCpu, type TimelineRow } from './timeline.js';

/**
 * The ramp: open-loop arrivals at `rampRate` for `duration` seconds on an event with more tickets
 * than attempts, so every attempt goes through a worker.
 */

export interface RampResult extends AttemptFigures {
  eventId: string;
  rate: number;
  attempts: number;
  maxLagMs: number;
  connections: number;
  /** Most attempts that waited in the client for a free connection (0: the generator kept up). */
  maxClientQueue: number;
  invariants: InvariantCheck;
  timeline: TimelineRow[];
}

export async function runRamp(
  ctx: Ctx,
  run: number,
  users: Users,
  admin: HttpClient,
  cpu: PhaseCpu[],
): Promise<RampResult> {
  const { params: p, sut, progress } = ctx;
  const G = sut.gatewayOrigins.length;
  const total = Math.max(1, Math.round(p.rampRate * p.durationS));
  // Enough tickets that the event never sells out: every attempt goes through a worker.
  const tickets = total + 100;
  const eventId = await createEvent(ctx, admin, {
    title: `Ramp ${run}`,
    tickets,
    saleStartsAt: new Date(Date.now() - 1000),
  });
  const attempts = new Attempts(total);
  const book = bookPayload(eventId);
  const rampClients = sut.gatewayOrigins.map((o) => new HttpClient(o, Math.max(1, Math.ceil(p.rampConnections / G))));
  await Promise.all(rampClients.map((c) => c.warm()));
  const userOf = (i: number) => i % p.users;
  const pollClients = sut.gatewayOrigins.map((o) => new HttpClient(o, Math.ceil(POLLERS / G)));
  const poller = new QueuedPoller(attempts, pollClients, (i) => users.headers[userOf(i)]!, p.pollMs, POLLERS);
  progress.start(`run ${run}: ramp, ${group(p.rampRate)} attempts/s for ${p.durationS}s (open loop)`);
  const timeline = new Timeline(
    ctx.sampler,
    () => ({ sent: attempts.sent, answered: attempts.answered, decided: attempts.decided }),
    () => ({ waiting: rampClients.reduce((n, c) => n + c.waiting, 0) }),
  );
  const lag = await withCpu(ctx, `ramp (run ${run})`, cpu, async () => {
    const fire = (i: number, scheduledAt: number) => {
      attempts.markSent(i, scheduledAt);
      const answered = (parsed: Parsed) => {
        if (!attempts.answer(i, parsed, (id) => poller.add(i, id)) && attempts.retry(i))
          setTimeout(() => fire(i, scheduledAt), 100);
      };
      rampClients[i % G]!.graphql(book(`ramp-${run}-${i}`), users.headers[userOf(i)]!).then(
        (a) => answered(parseHttpBooking('bookTicket', a)),
        (err: unknown) => answered({ error: `http: ${String(err)}` }),
      );
    };
    const loop = await openLoop({
      ratePerSecond: p.rampRate,
      total,
      fire,
      onProgress: (f) => progress.update(f, `${group(attempts.decided)}/${group(total)} decided`),
    });
    await Promise.race([attempts.allDecided, sleep(p.decideTimeoutS * 1000, undefined, { ref: false })]);
    return loop.maxLagMs;
  });
  const rampTimeline = timeline.stop();
  await poller.stop();
  await Promise.all([...rampClients, ...pollClients].map((c) => c.close()));

  const server = await serverDecisionTimes(ctx, eventId, attempts, (i) =>
    bookingIdFor(users.ids[userOf(i)]!, `ramp-${run}-${i}`),
  );
  const invariants = await checkInvariants(ctx, eventId, tickets, attempts.reserved, false);
  const result: RampResult = {
    eventId,
    rate: p.rampRate,
    attempts: total,
    maxLagMs: lag,
    connections: rampClients.reduce((n, c) => n + c.connections, 0),
    maxClientQueue: rampClients.reduce((n, c) => n + c.maxWaiting, 0),
    bookTicket: attempts.latencies(attempts.answeredAt),
    decision: attempts.latencies(attempts.decidedAt),
    committedDecision: server.committed,
    admittedDecision: server.admitted,
    queuedAnswers: attempts.queued,
    errors: attempts.errors,
    firstError: attempts.firstError,
    undecided: total - attempts.decided,
    reasons: Object.fromEntries(attempts.reasons),
    invariants,
    timeline: rampTimeline,
  };
  progress.log(
    `ramp, per second ("waiting": attempts queued in the client for a free connection):\n${renderTimeline(rampTimeline, ['waiting'])}`,
  );
  progress.done(`decision p99 ${result.decision.p99.toFixed(1)} ms, ${invariantsNote(invariants)}`);
  return result;
}
