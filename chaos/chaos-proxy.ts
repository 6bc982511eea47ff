import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy between the app processes and one dependency, for network faults that a process
 * kill cannot show:
 * - `blackhole()`: a partition. Nothing is forwarded either way, connections stay open and
 *   unanswered, new ones are accepted and left hanging (as packets to a partitioned host vanish);
 *   `heal()` delivers what was held, as TCP retransmission would once the link returns.
 * - `delay(ms)`: a slow link; every chunk is forwarded `ms` later, in order.
 */
export class ChaosProxy {
  private server: Server | undefined;
  private readonly links = new Set<Link>();
  private blackholed = false;
  private delayMs = 0;
  port = 0;

  constructor(
    readonly name: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<this> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  blackhole(): void {
    this.blackholed = true;
  }

  heal(): void {
    this.blackholed = false;
    this.delayMs = 0;
    for (const link of this.links) link.resume();
  }

  delay(ms: number): void {
    this.delayMs = ms;
  }

  async stop(): Promise<void> {
    for (const link of this.links) link.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(client: Socket): void {
    const link = new Link(
      client,
      this.targetPort,
      () => this.blackholed,
      () => this.delayMs,
    );
    this.links.add(link);
    link.closed.then(
      () => this.links.delete(link),
      () => this.links.delete(link),
    );
  }
}

interface Chunk {
  at: number;
  data: Buffer;
}

/** One client connection and its upstream connection, opened lazily once the link is not blackholed. */
class Link {
  private upstream: Socket | undefined;
  private readonly toUpstream: Chunk[] = [];
  private readonly toClient: Chunk[] = [];
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  readonly closed: Promise<void>;
  private close!: () => void;

  constructor(
    private readonly client: Socket,
    private readonly targetPort: number,
    private readonly blackholed: () => boolean,
    private readonly delayMs: () => number,
  ) {
    this.closed = new Promise((resolve) => (this.close = resolve));
    client.on('data', (data: Buffer) => this.enqueue(this.toUpstream, data));
    client.on('error', () => this.destroy());
    client.on('close', () => this.destroy());
    this.resume();
  }

  resume(): void {
    if (this.done || this.blackholed()) return;
    if (!this.upstream) {
      const upstream = connect(this.targetPort, '127.0.0.1');
      upstream.on('data', (data: Buffer) => this.enqueue(this.toClient, data));
      upstream.on('error', () => this.destroy());
      upstream.on('close', () => this.destroy());
      this.upstream = upstream;
    }
    this.pump();
  }

  destroy(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.client.destroy();
    this.upstream?.destroy();
    this.close();
  }

  private enqueue(queue: Chunk[], data: Buffer): void {
    queue.push({ at: Date.now() + this.delayMs(), data });
    this.pump();
  }

  /** Forwards every chunk that is due, unless blackholed; wakes up again for the next one. */
  private pump(): void {
    if (this.done || this.blackholed() || !this.upstream) return;
    clearTimeout(this.timer);
    const now = Date.now();
    for (const [queue, to] of [
      [this.toUpstream, this.upstream],
      [this.toClient, this.client],
    ] as const) {
      while (queue.length > 0 && queue[0]!.at <= now) to.write(queue.shift()!.data);
    }
    const next = Math.min(...[this.toUpstream[0]?.at, this.toClient[0]?.at].filter((t) => t !== undefined));
    if (Number.isFinite(next)) this.timer = setTimeout(() => this.pump(), next - now);
  }
}
