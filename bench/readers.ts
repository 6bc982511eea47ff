import { persistedGetPath } from '../src/http/persisted-documents.js';
import { findNginx, startMicroCache, type MicroCache } from './edge-cache.js';
import { GqlSocket, HttpClient, forEachLimit, jsonHeaders, type HttpAnswer } from './load.js';
import type { Ctx } from './context.js';
import { STOCK, eventPayload, wsUrl } from './operations.js';
import { Samples, type Summary } from './stats.js';

/**
 * Readers: each refreshes the event page every second over HTTP (its own keep-alive connection,
 * as a browser tab has: a slow answer never waits behind another reader's) and watches
 * stockChanged over graphql-ws. `reads` and `readErrors` count the reads sent between
 * `measure(true)` and `measure(false)` (the sale), wherever their answers land. With
 * `--reader-reads edge` their GETs go through an nginx micro-cache in front of the gateways (one
 * second of cache, see edge-cache.ts), as a CDN would serve the page; the sockets stay direct.
 */
export class Readers {
  readonly reads = new Samples(4096);
  readErrors = 0;
  firstReadError: string | undefined;
  private measuring = false;
  stockMessages = 0;
  private readonly soldOutSeenAt: Float64Array;
  private readonly busy: Uint8Array;
  private timer: NodeJS.Timeout | undefined;
  private readonly stops: (() => void)[] = [];

  private constructor(
    private readonly sockets: GqlSocket[],
    private readonly clients: HttpClient[],
    private readonly eventId: string,
    private readonly cache: MicroCache | undefined,
  ) {
    this.soldOutSeenAt = new Float64Array(sockets.length);
    this.busy = new Uint8Array(sockets.length);
  }

  static async open(ctx: Ctx, eventId: string, count: number): Promise<Readers> {
    const { gatewayOrigins } = ctx.sut;
    const sockets: GqlSocket[] = [];
    await forEachLimit(
      Array.from({ length: count }, (_, i) => i),
      50,
      async (i) => {
        sockets[i] = await GqlSocket.open(wsUrl(gatewayOrigins[i % gatewayOrigins.length]!));
      },
    );
    const how = ctx.params.readerReads;
    const cache =
      how === 'edge' ? await startMicroCache(await findNginx((m) => ctx.progress.log(m)), gatewayOrigins) : undefined;
    const origins = cache ? [cache.origin] : gatewayOrigins;
    const clients = origins.map((o) => new HttpClient(o, Math.max(1, Math.ceil(count / origins.length))));
    await Promise.all(clients.map((c) => c.warm()));
    const readers = new Readers(sockets, clients, eventId, cache);
    const payload = `{"query":${JSON.stringify(STOCK)},"variables":{"e":"${eventId}"}}`;
    sockets.forEach((s, i) =>
      readers.stops.push(
        s.subscribe(payload, (r) => {
          readers.stockMessages += 1;
          const update = r.data?.['stockChanged'] as { ticketsAvailable: number } | undefined;
          if (update?.ticketsAvailable === 0 && readers.soldOutSeenAt[i] === 0)
            readers.soldOutSeenAt[i] = performance.now();
        }),
      ),
    );
    readers.start(how);
    return readers;
  }

  /** Each reader refreshes once a second, spread evenly over the second; a slow page is not re-requested. */
  private start(how: Ctx['params']['readerReads']): void {
    const n = this.sockets.length;
    if (n === 0) return;
    // Anonymous, as the page is before signing in; a GET without If-None-Match (a reload that revalidates would get 304s).
    const path = persistedGetPath('EventPage', { id: this.eventId });
    const body = eventPayload(this.eventId);
    const headers = jsonHeaders();
    const read = (client: HttpClient): Promise<HttpAnswer> =>
      how === 'post' ? client.graphql(body, headers) : client.send('GET', path, []);
    const t0 = performance.now();
    let next = 0;
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - t0) / 1000) * n);
      for (; next < due; next++) {
        const i = next % n;
        if (this.busy[i]) continue;
        this.busy[i] = 1;
        const start = performance.now();
        const measured = this.measuring;
        read(this.clients[i % this.clients.length]!).then(
          (a) => {
            this.busy[i] = 0;
            if (!measured) return;
            if (a.status === 200 && a.body.includes('"ticketsAvailable"')) this.reads.add(performance.now() - start);
            else this.readError(`HTTP ${a.status}: ${a.body.slice(0, 200)}`);
          },
          (err: unknown) => {
            this.busy[i] = 0;
            if (measured) this.readError(`after ${Math.round(performance.now() - start)} ms: ${String(err)}`);
          },
        );
      }
    }, 20);
  }

  private readError(message: string): void {
    this.readErrors += 1;
    this.firstReadError ??= message;
  }

  /** Whether the reads sent from now on count in `reads` and `readErrors`. */
  measure(on: boolean): void {
    this.measuring = on;
  }

  /** When readers first saw 0 tickets, relative to `from` (performance.now() ms). */
  soldOutSeen(from: number): Summary {
    const s = new Samples(this.soldOutSeenAt.length);
    for (const t of this.soldOutSeenAt) if (t > 0) s.add(t - from);
    return s.summary();
  }

  /** Stops refreshing and lets the reads in flight finish (they count, as answers or errors), then closes. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    const until = performance.now() + 60_000;
    while (this.busy.includes(1) && performance.now() < until) await new Promise((r) => setTimeout(r, 50));
    for (const stop of this.stops) stop();
    for (const s of this.sockets) s.close();
    await Promise.all(this.clients.map((c) => c.close()));
    await this.cache?.stop();
  }
}
