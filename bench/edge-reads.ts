import { persistedGetPath } from '../src/http/persisted-documents.js';
import type { Ctx } from './context.js';
import { findNginx, startMicroCache, type MicroCache } from './edge-cache.js';
import { HttpClient, type HttpAnswer } from './load.js';
import { readProc } from './processes.js';
import { parsePrometheus, rate } from './stats.js';
import { closedPhase, type Throughput } from './throughput.js';
import type { PhaseCpu } from './timeline.js';

/**
 * The event page as an edge cache sees it: the persisted `EventPage` document over GET
 * (graphql-persisted-get.ts), first straight to the gateways, then through a real micro-cache in
 * front of them (edge-cache.ts: nginx, one second of cache), each a closed loop on the same number
 * of connections for the same time, in the same run. It also counts the requests that reached the
 * gateways through the cache.
 */

export type EdgeReads =
  | {
      direct: Throughput;
      edge: Throughput;
      /** Persisted GETs the gateways answered per second while the cache phase ran (warm-up included). */
      originRps: number;
      /** nginx's CPU over the cache phase, in cores. */
      nginxCores: number;
      nginx: string;
    }
  | { skipped: string };

export async function runEdgeReads(ctx: Ctx, run: number, eventId: string, cpu: PhaseCpu[]): Promise<EdgeReads> {
  const { sut, params: p, progress } = ctx;
  let nginx: string;
  try {
    nginx = await findNginx((m) => progress.log(m));
  } catch (err) {
    const skipped = `no nginx: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
    progress.log(`edge reads skipped (${skipped})`);
    return { skipped };
  }
  const path = persistedGetPath('EventPage', { id: eventId });
  const check = (a: HttpAnswer) => a.status === 200 && a.body.includes('"ticketsAvailable"');
  const G = sut.gatewayOrigins.length;

  const direct = sut.gatewayOrigins.map((o) => new HttpClient(o, Math.max(1, Math.ceil(p.concurrency / G))));
  let directReads: Throughput;
  try {
    await Promise.all(direct.map((c) => c.warm()));
    directReads = await closedPhase(
      ctx,
      run,
      cpu,
      'edgeDirect',
      'event page, persisted GET, direct',
      (i) => direct[i % G]!.send('GET', path, []),
      check,
    );
  } finally {
    await Promise.all(direct.map((c) => c.close()));
  }

  const cache: MicroCache = await startMicroCache(nginx, sut.gatewayOrigins);
  const viaCache = new HttpClient(cache.origin, p.concurrency);
  try {
    await viaCache.warm();
    const originBefore = await persistedRequests(sut.metricsTargets);
    const nginxBefore = cpuSeconds(cache.pids());
    const t0 = performance.now();
    const edge = await closedPhase(
      ctx,
      run,
      cpu,
      'edge',
      'event page, persisted GET, through nginx (1 s cache)',
      () => viaCache.send('GET', path, []),
      check,
    );
    const ms = performance.now() - t0;
    const nginxCores = (cpuSeconds(cache.pids()) - nginxBefore) / (ms / 1000);
    // withCpu watched the app's processes; nginx is added to the phase it just recorded.
    cpu.at(-1)?.cpu.push({ name: 'nginx (edge cache)', cores: nginxCores, cpuSeconds: NaN });
    const originRps = rate((await persistedRequests(sut.metricsTargets)) - originBefore, ms);
    progress.log(`through the cache the gateways answered ${originRps.toFixed(1)} persisted GETs/s`);
    return { direct: directReads, edge, originRps, nginxCores, nginx };
  } finally {
    await viaCache.close();
    await cache.stop();
  }
}

function cpuSeconds(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + (readProc(pid)?.cpuSeconds ?? 0), 0);
}

/** graphql_http_requests_total{path="persisted"} summed over the gateways. */
async function persistedRequests(targets: Ctx['sut']['metricsTargets']): Promise<number> {
  let total = 0;
  for (const t of targets.filter((x) => x.role === 'gateway')) {
    try {
      const res = await fetch(t.url, { signal: AbortSignal.timeout(5000) });
      for (const s of parsePrometheus(await res.text())) {
        if (s.name === 'graphql_http_requests_total' && s.labels['path'] === 'persisted') total += s.value;
      }
    } catch {
      // a gateway without metrics counts as zero
    }
  }
  return total;
}
