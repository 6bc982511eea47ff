import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Inspector, liveBytesBySite } from './inspector.js';

/**
 * `--heap-profile DIR`: what the gateways' heaps hold over the burst, through their inspectors.
 * The sampling heap profiler starts before the buyers' sockets open; right after the burst (the
 * sockets still open, where `gatewayRssAfterMb` is read) each gateway's heap is read, a full GC is
 * forced and it is read again — the difference is garbage V8 had not collected yet, the rest is
 * alive — and the profile's live bytes per allocating site go to the report and to
 * DIR/gateway-N.burst.heapprofile (DevTools' Memory tab opens it). After the sockets closed the
 * heap is read once more, after a GC.
 */

export interface GatewayHeap {
  /** Heap used before the sockets opened, after a forced GC, MB. */
  beforeMb: number;
  /** Right after the burst, as V8 left it (live + not yet collected), MB. */
  afterMb: number;
  /** Right after the burst, before the GC: the process's memory by kind (process.memoryUsage()), MB. */
  afterUsageMb: MemoryUsageMb;
  /** Right after the burst, after a forced GC: what was alive, MB. */
  afterGcMb: number;
  /** A second after the sockets closed, after a forced GC, MB. */
  closedGcMb: number;
  /** The live bytes after the burst by allocating site, largest first (the sampled share, MB). */
  sites: { site: string; mb: number }[];
}

export interface MemoryUsageMb {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

const MB = 1024 * 1024;

async function memoryUsageMb(inspector: Inspector): Promise<MemoryUsageMb> {
  const { result } = await inspector.send<{ result: { value: Record<keyof MemoryUsageMb, number> } }>(
    'Runtime.evaluate',
    { expression: 'process.memoryUsage()', returnByValue: true },
  );
  const v = result.value;
  return {
    rss: v.rss / MB,
    heapTotal: v.heapTotal / MB,
    heapUsed: v.heapUsed / MB,
    external: v.external / MB,
    arrayBuffers: v.arrayBuffers / MB,
  };
}

async function heapUsedMb(inspector: Inspector): Promise<number> {
  const { usedSize } = await inspector.send<{ usedSize: number }>('Runtime.getHeapUsage');
  return usedSize / MB;
}

export class BurstHeap {
  private readonly before: number[] = [];
  private readonly after: Pick<GatewayHeap, 'afterMb' | 'afterUsageMb' | 'afterGcMb' | 'sites'>[] = [];

  private constructor(
    private readonly dir: string,
    private readonly inspectors: Inspector[],
  ) {}

  /** Connects to each gateway's inspector, forces a GC, reads the heap and starts sampling. */
  static async start(dir: string, origins: string[]): Promise<BurstHeap> {
    if (origins.length === 0) throw new Error('--heap-profile: the gateways were started without their inspector');
    mkdirSync(dir, { recursive: true });
    const heap = new BurstHeap(dir, await Promise.all(origins.map((o) => Inspector.connect(o))));
    for (const inspector of heap.inspectors) {
      await inspector.collectGarbage();
      heap.before.push(await heapUsedMb(inspector));
      await inspector.startSampling();
    }
    return heap;
  }

  /** Right after the burst: heap as left, then after a forced GC; stops sampling and writes the profiles. */
  async afterBurst(run: number): Promise<void> {
    for (const [i, inspector] of this.inspectors.entries()) {
      const afterMb = await heapUsedMb(inspector);
      const afterUsageMb = await memoryUsageMb(inspector);
      await inspector.collectGarbage();
      const afterGcMb = await heapUsedMb(inspector);
      const profile = await inspector.stopSampling();
      writeFileSync(join(this.dir, `gateway-${i + 1}.run-${run}.burst.heapprofile`), JSON.stringify(profile));
      const sites = liveBytesBySite(profile)
        .slice(0, 15)
        .map((s) => ({ site: s.site, mb: s.bytes / MB }));
      this.after.push({ afterMb, afterUsageMb, afterGcMb, sites });
    }
  }

  /** After the sockets closed: a forced GC and the heap; one entry per gateway. */
  async closed(): Promise<GatewayHeap[]> {
    const result: GatewayHeap[] = [];
    for (const [i, inspector] of this.inspectors.entries()) {
      await inspector.collectGarbage();
      const closedGcMb = await heapUsedMb(inspector);
      inspector.close();
      const after = this.after[i];
      if (!after) throw new Error('BurstHeap.closed() before afterBurst()');
      result.push({ beforeMb: this.before[i] ?? NaN, ...after, closedGcMb });
    }
    return result;
  }
}

/** The report's lines for one gateway's heap. */
export function renderGatewayHeap(heap: GatewayHeap, name: string): string {
  const f = (mb: number) => `${Math.round(mb)} MB`;
  return [
    `${name} heap used: before ${f(heap.beforeMb)} (GC), after the burst ${f(heap.afterMb)}, ` +
      `${f(heap.afterGcMb)} after a GC, sockets closed ${f(heap.closedGcMb)} (GC)`,
    `${name} after the burst, before the GC: RSS ${f(heap.afterUsageMb.rss)} = V8 heap ${f(heap.afterUsageMb.heapTotal)} ` +
      `(${f(heap.afterUsageMb.heapUsed)} used) + ${f(heap.afterUsageMb.rss - heap.afterUsageMb.heapTotal)} outside it ` +
      `(external ${f(heap.afterUsageMb.external)}, of which array buffers ${f(heap.afterUsageMb.arrayBuffers)})`,
    'alive after the burst by allocating site (sampled):',
    ...heap.sites.map((s) => `  ${s.mb.toFixed(1).padStart(7)} MB  ${s.site}`),
  ].join('\n');
}
