import type { Ctx } from './context.js';
import { closedLoop, jsonHeaders, type HttpAnswer, type HttpClient } from './load.js';
import { bookPayload, eventPayload } from './operations.js';
import { createEvent, type Users } from './seed.js';
import { group, rate } from './stats.js';
import { withCpu, type PhaseCpu } from './timeline.js';

/**
 * The closed-loop throughput phases: bookTicket on a sold-out event (by buyers without a ticket),
 * then event(id) reads, each on `concurrency` keep-alive connections for `duration` seconds.
 */

/** A closed-loop phase: good answers per second, their latency, and the answers `check` refused. */
export interface Throughput {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  firstError: string | undefined;
}

/** The event the sold-out phase books, and the buyers who book it (none of them holds a ticket). */
export interface SoldOutTarget {
  eventId: string;
  losers: number[];
}

/** Ramp only (no burst sold an event out): a one-ticket event sold to the first buyer. */
export async function sellOutOneTicket(ctx: Ctx, run: number, admin: HttpClient, users: Users): Promise<SoldOutTarget> {
  const eventId = await createEvent(ctx, admin, {
    title: `Sold out ${run}`,
    tickets: 1,
    saleStartsAt: new Date(Date.now() - 60_000),
  });
  await admin.graphql(bookPayload(eventId)('take-it'), users.headers[0]!);
  return { eventId, losers: Array.from({ length: ctx.params.users - 1 }, (_, i) => i + 1) };
}

export async function runThroughput(
  ctx: Ctx,
  run: number,
  target: SoldOutTarget,
  clients: HttpClient[],
  users: Users,
  cpu: PhaseCpu[],
): Promise<{ soldOut: Throughput; read: Throughput }> {
  const G = clients.length;
  const losers = target.losers.length === 0 ? [0] : target.losers;
  const book = bookPayload(target.eventId);
  const soldOut = await closedPhase(
    ctx,
    run,
    cpu,
    'soldOut',
    'bookTicket on the sold-out event',
    (i) => clients[i % G]!.graphql(book(`late-${run}-${i}`), users.headers[losers[i % losers.length]!]!),
    (a) => a.status === 200 && a.body.includes('"SOLD_OUT"'),
  );
  const body = eventPayload(target.eventId);
  const headers = jsonHeaders();
  const read = await closedPhase(
    ctx,
    run,
    cpu,
    'read',
    'event(id) reads',
    (i) => clients[i % G]!.graphql(body, headers),
    (a) => a.status === 200 && a.body.includes('"ticketsAvailable"'),
  );
  return { soldOut, read };
}

export async function closedPhase(
  ctx: Ctx,
  run: number,
  cpu: PhaseCpu[],
  phase: string,
  what: string,
  send: (i: number) => Promise<HttpAnswer>,
  check: (a: HttpAnswer) => boolean,
): Promise<Throughput> {
  const { params: p, progress } = ctx;
  progress.start(`run ${run}: ${what}, ${p.concurrency} connections`);
  const r = await withCpu(ctx, `${phase} (run ${run})`, cpu, () =>
    closedLoop({
      concurrency: p.concurrency,
      warmupMs: p.warmupS * 1000,
      durationMs: p.durationS * 1000,
      send,
      check,
      onProgress: (f, n) => progress.update(f, `${group(n)} answers`),
    }),
  );
  const s = r.latency.summary();
  const rps = rate(r.requests, r.ms);
  progress.done(`${group(Math.round(rps))} requests/s, p99 ${s.p99.toFixed(1)} ms, ${r.errors} errors`);
  return { rps, p50Ms: s.p50, p99Ms: s.p99, errors: r.errors, firstError: r.firstError };
}
