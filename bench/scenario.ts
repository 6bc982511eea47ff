import { setTimeout as sleep } from 'node:timers/promises';
import { runBurst, type BurstResult } from './burst.js';
import type { Ctx } from './context.js';
import { runEdgeReads, type EdgeReads } from './edge-reads.js';
import { HttpClient } from './load.js';
import { runRamp, type RampResult } from './ramp.js';
import { createUsers } from './seed.js';
import { group } from './stats.js';
import { runThroughput, sellOutOneTicket, type SoldOutTarget, type Throughput } from './throughput.js';
import type { PhaseCpu } from './timeline.js';

/**
 * One run of the flash sale against the system under test: users, an event, readers, then the
 * burst (burst.ts), the sold-out and read throughput phases (throughput.ts), the event page over
 * GET direct and through an edge cache (edge-reads.ts), the ramp (ramp.ts),
 * each ending with its invariant checks (invariants.ts).
 */

export interface RunResult {
  /** Buyers of this run (one of the scales of `--users`). */
  users: number;
  burst?: BurstResult;
  soldOut?: Throughput;
  read?: Throughput;
  edge?: EdgeReads;
  ramp?: RampResult;
  cpu: PhaseCpu[];
  /** Peak RSS per process during the run, and RSS right after it, MB. */
  rssPeakMb: Record<string, number>;
  rssAfterMb: Record<string, number>;
}

export async function runOnce(ctx: Ctx, run: number): Promise<RunResult> {
  const { params: p, sut, progress } = ctx;
  const G = sut.gatewayOrigins.length;
  const result: RunResult = { users: p.users, cpu: [], rssPeakMb: {}, rssAfterMb: {} };
  ctx.sampler.resetPeaks();
  // A few connections for the admin's calls, and those of the closed-loop phases.
  const small = sut.gatewayOrigins.map((o) => new HttpClient(o, 4));
  const closedClients = sut.gatewayOrigins.map((o) => new HttpClient(o, Math.max(1, Math.ceil(p.concurrency / G))));
  await Promise.all([...small, ...closedClients].map((c) => c.warm()));
  const admin = small[0]!;

  progress.start(`run ${run}: creating ${group(p.users)} users`);
  const users = await createUsers(ctx, p.users);
  progress.done(`${group(p.users)} users with tokens`);

  let soldOut: SoldOutTarget | undefined;
  if (p.arrival !== 'ramp') {
    const burst = await runBurst(ctx, run, users, admin, result.cpu);
    result.burst = burst.result;
    soldOut = { eventId: burst.eventId, losers: burst.losers };
  }
  if (p.throughput) {
    soldOut ??= await sellOutOneTicket(ctx, run, admin, users);
    const throughput = await runThroughput(ctx, run, soldOut, closedClients, users, result.cpu);
    result.soldOut = throughput.soldOut;
    result.read = throughput.read;
    if (p.edge) result.edge = await runEdgeReads(ctx, run, soldOut.eventId, result.cpu);
  }
  if (p.arrival !== 'burst') result.ramp = await runRamp(ctx, run, users, admin, result.cpu);

  await Promise.all([...small, ...closedClients].map((c) => c.close()));
  result.rssPeakMb = ctx.sampler.rssPeaks();
  await sleep(1000); // let the processes settle before the "after the run" reading
  result.rssAfterMb = ctx.sampler.rssNow();
  return result;
}
