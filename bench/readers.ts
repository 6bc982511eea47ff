import { GqlSocket, HttpClient, forEachLimit, jsonHeaders } from './load.js';
import type { Ctx } from './context.js';
import { STOCK, eventPayload, wsUrl } from './operations.js';
import { Samples, type Summary } from './stats.js';

/** Readers: each refreshes the event page every second over HTTP and watches stockChanged over graphql-ws. */
export class Readers {
  readonly reads = new Samples(4096);
  readErrors = 0;
  stockMessages = 0;
  private readonly soldOutSeenAt: Float64Array;
  private readonly busy: Uint8Array;
  private timer: NodeJS.Timeout | undefined;
  private readonly stops: (() => void)[] = [];

  private constructor(
    private readonly sockets: GqlSocket[],
    private readonly clients: HttpClient[],
    private readonly eventId: string,
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
    // A connection per reader, as each reader is its own browser: a shared, smaller pool queues the
    // readers behind each other in the load generator and measures that queue, not the server.
    const clients = gatewayOrigins.map((o) => new HttpClient(o, Math.max(1, Math.ceil(count / gatewayOrigins.length))));
    await Promise.all(clients.map((c) => c.warm()));
    const readers = new Readers(sockets, clients, eventId);
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
    readers.start();
    return readers;
  }

  /** Each reader refreshes once a second, spread evenly over the second; a slow page is not re-requested. */
  private start(): void {
    const n = this.sockets.length;
    if (n === 0) return;
    const body = eventPayload(this.eventId);
    const headers = jsonHeaders();
    const t0 = performance.now();
    let next = 0;
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - t0) / 1000) * n);
      for (; next < due; next++) {
        const i = next % n;
        if (this.busy[i]) continue;
        this.busy[i] = 1;
        const start = performance.now();
        this.clients[i % this.clients.length]!.graphql(body, headers).then(
          (a) => {
            this.busy[i] = 0;
            if (a.status === 200 && a.body.includes('"ticketsAvailable"')) this.reads.add(performance.now() - start);
            else this.readErrors += 1;
          },
          () => {
            this.busy[i] = 0;
            this.readErrors += 1;
          },
        );
      }
    }, 20);
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
    const until = performance.now() + 30_000;
    while (this.busy.includes(1) && performance.now() < until) await new Promise((r) => setTimeout(r, 50));
    for (const stop of this.stops) stop();
    for (const s of this.sockets) s.close();
    await Promise.all(this.clients.map((c) => c.close()));
  }
}
