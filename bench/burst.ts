import { setTimeout as sleep } from 'node:timers/promises';
import { bookingIdFor } from '../src/services/booking/booking.service.js';
import { BurstHeap, renderGatewayHeap, type GatewayHeap } from './burst-heap.js';
import { Attempts, RESERVED, SOLD_OUT, type AttemptFigures } from './attempts.js';
import type { Ctx } from './context.js';
import { gatewayRejections, serverDecisionTimes, toEpoch } from './decision-times.js';
import { checkInvariants, invariantsNote, type InvariantCheck } from './invariants.js';
import { GqlSocket, HttpClient, forEachLimit } from './load.js';
import {
  bookPayload,
  bookingUpdatedPayload,
  parseBooking,
  parseHttpBooking,
  wsUrl,
  type Parsed,
} from './operations.js';
import { POLLERS, QueuedPoller } from './queued-poller.js';
import { Readers } from './readers.js';
import { createEvent, type Users } from './seed.js';
import { costPerAttemptUs, group, rate } from './stats.js';
import { bookingCounters } from './system.js';
import { Timeline, renderTimeline, withCpu, type PhaseCpu, type TimelineRow } from './timeline.js';

/**
 * The burst: every buyer books at once when the sale opens (graphql-ws buyers on their own
 * sockets, HTTP buyers sharing `burstConnections` connections), while readers refresh the page.
 */

export interface BurstResult extends AttemptFigures {
  eventId: string;
  attempts: number;
  wsAttempts: number;
  httpAttempts: number;
  selloutMs: number;
  clientSelloutMs: number;
  soldOutSeenByReadersP50Ms: number;
  attemptWindowMs: number;
  attemptsPerSec: number;
  decisionsPerSec: number;
  rejectedAtGateway: number;
  decidedByWorkers: number;
  rejectedAtGatewayShare: number;
  /** The readers' page reads sent between the first attempt and the last decision. */
  readsDuringSale: {
    count: number;
    perSec: number;
    p50Ms: number;
    p99Ms: number;
    errors: number;
    firstError: string | undefined;
  };
  /**
   * Gateway and worker CPU over the burst phase per attempt, µs (NaN against a running system,
   * whose processes are not watched). Only the app's processes: the load generator and the
   * datastores share the machine but not this figure.
   */
  costPerAttemptUs: number;
  /** Largest gateway RSS, MB: before the buyers' sockets opened, after the burst with them open, and after they closed. */
  gatewayRssMb: { before: number; after: number; closed: number };
  /** With --heap-profile: each gateway's heap over the burst (bench/burst-heap.ts). */
  gatewayHeap?: GatewayHeap[];
  stockMessagesPerReader: number;
  invariants: InvariantCheck;
  timeline: TimelineRow[];
}

/** The burst's result, its event (sold out now) and the buyers who were told SOLD_OUT. */
export interface BurstOutcome {
  result: BurstResult;
  eventId: string;
  losers: number[];
}

/** Buyers 0 … wsCount−1 book over graphql-ws, the rest over HTTP. */
interface Buyers {
  ws: number[];
  http: number[];
}

/** The sale as the buyers wait for it: the event, its readers, the HTTP connections already open. */
interface OpenSale {
  eventId: string;
  readers: Readers;
  burstClients: HttpClient[];
  metricsBefore: Map<string, number>;
}

export async function runBurst(
  ctx: Ctx,
  run: number,
  users: Users,
  admin: HttpClient,
  cpu: PhaseCpu[],
): Promise<BurstOutcome> {
  const { params: p, sut } = ctx;
  const wsCount = Math.min(Math.round(p.users * p.wsShare), p.wsSockets);
  const gatewayRss = () => {
    const now = ctx.sampler.rssNow();
    return Math.max(0, ...sut.appProcessNames.filter((n) => n.startsWith('gateway')).map((n) => now[n] ?? 0));
  };
  const rssBefore = gatewayRss();
  const heap = p.heapProfileDir ? await BurstHeap.start(p.heapProfileDir, sut.gatewayInspectors) : undefined;
  const buyers: Buyers = {
    ws: Array.from({ length: wsCount }, (_, i) => i),
    http: Array.from({ length: p.users - wsCount }, (_, i) => wsCount + i),
  };
  const sockets = await openBuyerSockets(ctx, run, users, buyers.ws);
  const sale = await openSale(ctx, run, admin);
  const key = `sale-${run}`;
  const attempts = new Attempts(p.users);
  const timeline = await sell(ctx, run, { sale, buyers, sockets, users, attempts, key, cpu });
  const metricsAfter = await bookingCounters(sut.metricsTargets);
  const rssAfter = gatewayRss();
  await heap?.afterBurst(run);
  await sale.readers.close();
  for (const s of sockets) s?.close();
  await Promise.all(sale.burstClients.map((c) => c.close()));
  await sleep(1000); // the gateway lets go of the closed sockets
  const gatewayHeap = await heap?.closed();
  const gatewayRssMb = { before: rssBefore, after: rssAfter, closed: gatewayRss() };
  gatewayHeap?.forEach((h, i) => ctx.progress.log(renderGatewayHeap(h, `gateway-${i + 1}`)));

  // sell() recorded the burst's CPU last.
  const cost = costPerAttemptUs(cpu.at(-1)?.cpu ?? [], sut.appProcessNames, p.users);
  const result = await burstReport(
    ctx,
    { sale, buyers, users, attempts, key, metricsAfter, timeline },
    {
      costPerAttemptUs: cost,
      gatewayRssMb,
      ...(gatewayHeap ? { gatewayHeap } : {}),
    },
  );
  const losers: number[] = [];
  for (let i = 0; i < p.users; i++) if (attempts.outcome[i] === SOLD_OUT) losers.push(i);
  ctx.progress.log(`burst, per second:\n${renderTimeline(timeline)}`);
  ctx.progress.done(`sold out in ${Math.round(result.selloutMs)} ms, ${invariantsNote(result.invariants)}`);
  return { result, eventId: sale.eventId, losers };
}

/** One graphql-ws socket per graphql-ws buyer, signed in, 100 opening at a time. */
async function openBuyerSockets(ctx: Ctx, run: number, users: Users, wsUsers: number[]): Promise<GqlSocket[]> {
  const { sut, progress } = ctx;
  const G = sut.gatewayOrigins.length;
  const wsCount = wsUsers.length;
  const sockets: GqlSocket[] = new Array<GqlSocket>(wsCount);
  progress.start(`run ${run}: opening ${group(wsCount)} graphql-ws buyer sockets`);
  let opened = 0;
  await forEachLimit(wsUsers, 100, async (u) => {
    sockets[u] = await GqlSocket.open(wsUrl(sut.gatewayOrigins[u % G]!), users.auth[u]);
    if (++opened % 500 === 0) progress.update(opened / wsCount, `${group(opened)} open`);
  });
  progress.done(`${group(wsCount)} sockets`);
  return sockets;
}

/** Creates the event, opens its readers and the HTTP buyers' connections, and returns as the sale opens. */
async function openSale(ctx: Ctx, run: number, admin: HttpClient): Promise<OpenSale> {
  const { params: p, sut, progress } = ctx;
  const G = sut.gatewayOrigins.length;
  const saleStartsAt = new Date(Date.now() + p.openDelayS * 1000);
  const eventId = await createEvent(ctx, admin, { title: `Flash sale ${run}`, tickets: p.tickets, saleStartsAt });
  const readers = await Readers.open(ctx, eventId, p.readers);
  progress.log(
    `event ${eventId}: ${group(p.tickets)} tickets, sale opens ${saleStartsAt.toISOString()}, ${p.readers} readers`,
  );
  // The HTTP buyers' connections are open before the sale (they have been on the page), and
  // touched again while waiting so that neither side closes them as idle.
  const burstClients = sut.gatewayOrigins.map(
    (o) => new HttpClient(o, Math.max(1, Math.ceil(Math.min(p.burstConnections, p.users) / G))),
  );
  await Promise.all(burstClients.map((c) => c.warm()));
  while (saleStartsAt.getTime() - Date.now() > 2500) {
    await sleep(Math.min(2000, saleStartsAt.getTime() - Date.now() - 2000));
    await Promise.all(burstClients.map((c) => c.warm()));
  }
  const metricsBefore = await bookingCounters(sut.metricsTargets);
  await sleep(Math.max(0, saleStartsAt.getTime() - Date.now() + 5));
  return { eventId, readers, burstClients, metricsBefore };
}

/**
 * Everyone books at once; returns when every attempt is decided (or decide-timeout passed) with
 * the phase's per-second timeline.
 */
async function sell(
  ctx: Ctx,
  run: number,
  b: {
    sale: OpenSale;
    buyers: Buyers;
    sockets: GqlSocket[];
    users: Users;
    attempts: Attempts;
    key: string;
    cpu: PhaseCpu[];
  },
): Promise<TimelineRow[]> {
  const { params: p, sut, progress } = ctx;
  const { sale, buyers, sockets, users, attempts, key } = b;
  const G = sut.gatewayOrigins.length;
  const book = bookPayload(sale.eventId);
  const pollClients = sut.gatewayOrigins.map((o) => new HttpClient(o, Math.ceil(POLLERS / G)));
  const poller = new QueuedPoller(attempts, pollClients, (i) => users.headers[i]!, p.pollMs, POLLERS);
  progress.start(`run ${run}: burst, ${group(p.users)} buyers at once for ${group(p.tickets)} tickets`);
  const progressTimer = setInterval(
    () => progress.update(attempts.decided / p.users, `${group(attempts.decided)}/${group(p.users)} decided`),
    200,
  );

  const timeline = new Timeline(ctx.sampler, () => ({
    sent: attempts.sent,
    answered: attempts.answered,
    decided: attempts.decided,
    reserved: attempts.reserved,
    reads: sale.readers.reads.length,
  }));
  await withCpu(ctx, `burst (run ${run})`, b.cpu, async () => {
    sale.readers.measure(true);
    // graphql-ws buyers: every one sends at once; a QUEUED answer is followed on the same socket.
    const sendWs = (u: number) => {
      const socket = sockets[u]!;
      attempts.markSent(u, performance.now());
      socket.request(book(key)).then(
        (r) => {
          const answered = attempts.answer(u, parseBooking('bookTicket', r), (id) => {
            const stop = socket.subscribe(bookingUpdatedPayload(id), (m) => {
              const parsed = parseBooking('bookingUpdated', m);
              if ('booking' in parsed && parsed.booking.status !== 'QUEUED') {
                attempts.decide(u, parsed.booking, performance.now());
                stop();
              }
            });
          });
          if (!answered && attempts.retry(u)) setTimeout(() => sendWs(u), 100);
        },
        (err: unknown) => {
          attempts.error(`ws: ${String(err)}`);
          attempts.decide(u, null, performance.now());
        },
      );
    };
    for (const u of buyers.ws) sendWs(u);

    // HTTP buyers: `burstConnections` connections, each carrying one attempt at a time.
    let next = 0;
    const sendHttp = async (u: number, client: HttpClient): Promise<void> => {
      attempts.markSent(u, performance.now());
      let parsed: Parsed;
      try {
        parsed = parseHttpBooking('bookTicket', await client.graphql(book(key), users.headers[u]!));
      } catch (err) {
        parsed = { error: `http: ${String(err)}` };
      }
      if (!attempts.answer(u, parsed, (id) => poller.add(u, id)) && attempts.retry(u)) {
        await sleep(100);
        return sendHttp(u, client);
      }
    };
    const connections = Math.min(p.burstConnections, buyers.http.length);
    const httpDone = Promise.all(
      Array.from({ length: connections }, async (_, k) => {
        const client = sale.burstClients[k % G]!;
        while (next < buyers.http.length) await sendHttp(buyers.http[next++]!, client);
      }),
    );
    // Unref'd: a pending timer would keep the process alive for the rest of decide-timeout after the report.
    await Promise.race([attempts.allDecided, sleep(p.decideTimeoutS * 1000, undefined, { ref: false })]);
    await Promise.race([httpDone, sleep(1000, undefined, { ref: false })]);
    sale.readers.measure(false);
  });
  clearInterval(progressTimer);
  const rows = timeline.stop();
  await poller.stop();
  await Promise.all(pollClients.map((c) => c.close()));
  return rows;
}

/** The burst's figures, from the clients' records, Postgres, the metrics and the invariant checks. */
async function burstReport(
  ctx: Ctx,
  b: {
    sale: OpenSale;
    buyers: Buyers;
    users: Users;
    attempts: Attempts;
    key: string;
    metricsAfter: Map<string, number>;
    timeline: TimelineRow[];
  },
  measured: Pick<BurstResult, 'costPerAttemptUs' | 'gatewayRssMb' | 'gatewayHeap'>,
): Promise<BurstResult> {
  const { params: p } = ctx;
  const { sale, buyers, users, attempts, key } = b;
  const { eventId, readers } = sale;
  const first = attempts.firstSent();
  const lastSent = attempts.lastOf(attempts.sentAt);
  const lastDecided = attempts.lastOf(attempts.decidedAt);
  const lastReserved = attempts.lastOf(attempts.decidedAt, RESERVED);
  const server = await serverDecisionTimes(ctx, eventId, attempts, (i) => bookingIdFor(users.ids[i]!, key));
  const stages = gatewayRejections(sale.metricsBefore, b.metricsAfter);
  const invariants = await checkInvariants(ctx, eventId, p.tickets, attempts.reserved, p.users >= p.tickets);
  const soldOutSeen = readers.soldOutSeen(first);
  const saleSeconds = (lastDecided - first) / 1000;
  return {
    eventId,
    attempts: p.users,
    wsAttempts: buyers.ws.length,
    httpAttempts: buyers.http.length,
    selloutMs: server.lastReservedEpochMs - toEpoch(first),
    clientSelloutMs: lastReserved - first,
    soldOutSeenByReadersP50Ms: soldOutSeen.p50,
    attemptWindowMs: lastSent - first,
    attemptsPerSec: rate(p.users, lastSent - first),
    decisionsPerSec: rate(attempts.decided, lastDecided - first),
    bookTicket: attempts.latencies(attempts.answeredAt),
    decision: attempts.latencies(attempts.decidedAt),
    committedDecision: server.committed,
    admittedDecision: server.admitted,
    queuedAnswers: attempts.queued,
    errors: attempts.errors,
    firstError: attempts.firstError,
    undecided: p.users - attempts.decided,
    reasons: Object.fromEntries(attempts.reasons),
    rejectedAtGateway: stages.gateway,
    decidedByWorkers: stages.worker,
    rejectedAtGatewayShare: stages.gateway / p.users,
    readsDuringSale: {
      count: readers.reads.length,
      perSec: saleSeconds > 0 ? readers.reads.length / saleSeconds : NaN,
      p50Ms: readers.reads.summary().p50,
      p99Ms: readers.reads.summary().p99,
      errors: readers.readErrors,
      firstError: readers.firstReadError,
    },
    stockMessagesPerReader: p.readers ? readers.stockMessages / p.readers : NaN,
    ...measured,
    invariants,
    timeline: b.timeline,
  };
}
