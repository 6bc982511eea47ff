import { createWriteStream } from 'node:fs';
import WebSocket from 'ws';

/**
 * A minimal client of a node process's inspector (`--inspect=host:port`): forced garbage
 * collections, heap snapshots and the sampling heap profiler, so a benchmark can read what a
 * child process's heap holds at a chosen moment without stopping it.
 */
export class Inspector {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(r: unknown): void; reject(e: Error): void }>();
  private readonly events = new Map<string, (params: unknown) => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (raw: Buffer) => {
      const msg = JSON.parse(raw.toString()) as {
        id?: number;
        method?: string;
        params?: unknown;
        result?: unknown;
        error?: { message: string };
      };
      if (msg.id !== undefined) {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(msg.error.message));
        else p?.resolve(msg.result);
      } else if (msg.method) this.events.get(msg.method)?.(msg.params);
    });
  }

  /** Connects to the first target of the inspector at `origin` (http://127.0.0.1:port). */
  static async connect(origin: string): Promise<Inspector> {
    const targets = (await (await fetch(`${origin}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
    const url = targets[0]?.webSocketDebuggerUrl;
    if (!url) throw new Error(`no inspector target at ${origin}`);
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new Inspector(ws);
  }

  send<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: (r) => resolve(r as T), reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Full collections until the heap stops shrinking (at most `rounds`), as a settled GC would leave it. */
  async collectGarbage(rounds = 3): Promise<void> {
    for (let i = 0; i < rounds; i++) await this.send('HeapProfiler.collectGarbage');
  }

  /** Writes a heap snapshot (loadable in Chrome DevTools' Memory tab) to `path`. */
  async heapSnapshot(path: string): Promise<void> {
    const out = createWriteStream(path);
    this.events.set('HeapProfiler.addHeapSnapshotChunk', (p) => out.write((p as { chunk: string }).chunk));
    try {
      await this.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false, captureNumericValue: false });
    } finally {
      this.events.delete('HeapProfiler.addHeapSnapshotChunk');
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    }
  }

  /** Starts the sampling heap profiler: stacks of the allocations that are still alive when it stops. */
  async startSampling(intervalBytes = 8192): Promise<void> {
    await this.send('HeapProfiler.enable');
    await this.send('HeapProfiler.startSampling', { samplingInterval: intervalBytes });
  }

  /** The live sampled allocations since startSampling (a `.heapprofile`, as `node --heap-prof` writes). */
  async stopSampling(): Promise<SamplingHeapProfile> {
    const { profile } = await this.send<{ profile: SamplingHeapProfile }>('HeapProfiler.stopSampling');
    return profile;
  }

  close(): void {
    this.ws.close();
  }
}

export interface SamplingHeapProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  id: number;
  children: SamplingHeapProfileNode[];
}

export interface SamplingHeapProfile {
  head: SamplingHeapProfileNode;
  samples: unknown[];
}

/**
 * Bytes still alive per allocating site: for each sample, the innermost frame of the app or of a
 * package (`src/…`, `node_modules/<pkg>/…`), skipping node's own internals, so the answer reads
 * "graphql-ws' makeServer" or "our createRequestContext" rather than "Map.set".
 */
export function liveBytesBySite(profile: SamplingHeapProfile): { site: string; bytes: number }[] {
  const sites = new Map<string, number>();
  const walk = (node: SamplingHeapProfileNode, site: string | undefined): void => {
    const frame = node.callFrame;
    const own = siteOf(frame.url, frame.functionName, frame.lineNumber);
    const here = own ?? site;
    if (node.selfSize > 0) {
      const key = here ?? `(node) ${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}`;
      sites.set(key, (sites.get(key) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, here);
  };
  walk(profile.head, undefined);
  return [...sites.entries()].map(([site, bytes]) => ({ site, bytes })).sort((a, b) => b.bytes - a.bytes);
}

function siteOf(url: string, fn: string, line: number): string | undefined {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(url);
  if (pkg) return `${pkg[1]} ${fn || '(anonymous)'} (${pkg[2]}:${line + 1})`;
  const app = /\/dist\/(src\/.*)$/.exec(url);
  if (app) return `${app[1]}:${line + 1} ${fn || '(anonymous)'}`;
  return undefined;
}

function shortUrl(url: string): string {
  return url.replace(/^.*\/(lib\/|node:)/, '$1');
}

/**
 * A heap snapshot's shallow sizes per constructor (DevTools' Summary view without retained
 * sizes): what kinds of objects fill the heap and how many of each.
 */
export function snapshotSummary(json: string): { name: string; count: number; bytes: number }[] {
  const snap = JSON.parse(json) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = snap.snapshot.meta.node_types[0];
  const byName = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!]!;
    // Strings, code and arrays are grouped by their type: their names are their contents.
    const name = type === 'object' || type === 'native' ? snap.strings[snap.nodes[i + nameAt]!]! : `(${type})`;
    const entry = byName.get(name) ?? { count: 0, bytes: 0 };
    entry.count += 1;
    entry.bytes += snap.nodes[i + sizeAt]!;
    byName.set(name, entry);
  }
  return [...byName.entries()].map(([name, e]) => ({ name, ...e })).sort((a, b) => b.bytes - a.bytes);
}
