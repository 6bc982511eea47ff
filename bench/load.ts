import { setTimeout as sleep } from 'node:timers/promises';
import { Client, type Dispatcher } from 'undici';
import WebSocket from 'ws';
import { Samples } from './stats.js';

/**
 * The load generator: keep-alive HTTP over undici (no pipelining, many connections, requests
 * pre-serialized, responses collected by a bare dispatch handler instead of streams), a minimal
 * graphql-ws client over `ws`, a closed loop (C requests in flight, for max throughput) and an
 * open loop (attempts scheduled by the clock, so a slow system cannot slow the arrivals down).
 */

export interface HttpAnswer {
  status: number;
  body: string;
}

/** Flat header list: undici takes `[name, value, name, value, …]` without copying into an object. */
export type RawHeaders = string[];

export function jsonHeaders(authorization?: string): RawHeaders {
  return authorization
    ? ['content-type', 'application/json', 'authorization', authorization]
    : ['content-type', 'application/json'];
}

/**
 * Exactly `connections` keep-alive connections to one origin, one request at a time on each
 * (undici Clients, pipelining off), opened up front by `warm()` in small waves: thousands of
 * connects at once overflow the server's listen backlog (Node's is 511) and turn into connect
 * timeouts, which is the load generator's fault, not the system's. A request waits in a FIFO
 * queue here while every connection is busy (the open loop measures that wait too).
 */
export class HttpClient {
  private readonly clients: Client[];
  /**
   * Idle connections, oldest first. Taking the one idle longest (not the last freed) keeps every
   * connection in use: one left idle past the server's keep-alive timeout (5 s in the app) is
   * closed, and reopening many at once stalls on connect exactly like a cold start.
   */
  private free: Client[];
  private freeHead = 0;
  private queue: ((client: Client) => void)[] = [];
  private head = 0;
  /** Most requests that ever waited for a free connection at once (0: the connections sufficed). */
  maxWaiting = 0;

  constructor(
    readonly origin: string,
    readonly connections: number,
  ) {
    this.clients = Array.from(
      { length: Math.max(1, connections) },
      () =>
        new Client(origin, {
          pipelining: 1,
          // The app's server closes idle connections after 5 s; reconnecting lazily is fine.
          keepAliveTimeout: 60_000,
          keepAliveMaxTimeout: 600_000,
          connectTimeout: 30_000,
          headersTimeout: 120_000,
          bodyTimeout: 120_000,
        }),
    );
    this.free = [...this.clients];
  }

  /** Opens (or touches) every connection with `GET /healthz`, 100 at a time. */
  async warm(): Promise<void> {
    await forEachLimit(this.clients, 100, async (client) => {
      await this.dispatch(client, 'GET', '/healthz', [], undefined).catch(() => undefined);
    });
  }

  /** One request; resolves with the status and the whole body as text, rejects on a network error. */
  send(method: 'GET' | 'POST', path: string, headers: RawHeaders, body?: string): Promise<HttpAnswer> {
    return new Promise<HttpAnswer>((resolve, reject) => {
      const run = (client: Client) => {
        this.dispatch(client, method, path, headers, body).then(
          (a) => {
            this.release(client);
            resolve(a);
          },
          (err: unknown) => {
            this.release(client);
            reject(err instanceof Error ? err : new Error(String(err)));
          },
        );
      };
      const client = this.freeHead < this.free.length ? this.free[this.freeHead++] : undefined;
      if (this.freeHead > 10_000) {
        this.free = this.free.slice(this.freeHead);
        this.freeHead = 0;
      }
      if (client) run(client);
      else {
        this.queue.push(run);
        this.maxWaiting = Math.max(this.maxWaiting, this.waiting);
      }
    });
  }

  /** Requests waiting for a free connection. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  private release(client: Client): void {
    if (this.head < this.queue.length) {
      const next = this.queue[this.head++]!;
      if (this.head > 10_000) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      next(client);
    } else this.free.push(client);
  }

  private dispatch(
    client: Client,
    method: 'GET' | 'POST',
    path: string,
    headers: RawHeaders,
    body: string | undefined,
  ): Promise<HttpAnswer> {
    return new Promise<HttpAnswer>((resolve, reject) => {
      let status = 0;
      const chunks: Buffer[] = [];
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart() {},
        onResponseStart(_c, statusCode) {
          status = statusCode;
        },
        onResponseData(_c, chunk) {
          chunks.push(chunk);
        },
        onResponseEnd() {
          resolve({
            status,
            body: chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'),
          });
        },
        onResponseError(_c, err) {
          reject(err);
        },
      };
      client.dispatch({ origin: this.origin, method, path, headers, body: body ?? null }, handler);
    });
  }

  /** POST a GraphQL body (already serialized) to /graphql. */
  graphql(body: string, headers: RawHeaders): Promise<HttpAnswer> {
    return this.send('POST', '/graphql', headers, body);
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.destroy()));
  }
}

interface LoopResult {
  /** Good answers (`check` passed) inside the measured window: what throughput counts. */
  requests: number;
  /** Answers `check` refused and network errors inside the window (not in `requests`). */
  errors: number;
  firstError: string | undefined;
  /** Length of the measured window. */
  ms: number;
  latency: Samples;
}

/**
 * Closed loop: `concurrency` loops each send a request as soon as the previous answer arrived,
 * for `warmupMs` unmeasured then `durationMs` measured. Max throughput of the target at that
 * concurrency, latency without coordinated omission (nothing waits to be sent).
 */
export async function closedLoop(opts: {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  send: (i: number) => Promise<HttpAnswer>;
  check: (answer: HttpAnswer) => boolean;
  onProgress?: (fraction: number, done: number) => void;
}): Promise<LoopResult> {
  const t0 = performance.now();
  const measureFrom = t0 + opts.warmupMs;
  const end = measureFrom + opts.durationMs;
  const latency = new Samples(1 << 16);
  let requests = 0;
  let errors = 0;
  let firstError: string | undefined;
  let seq = 0;
  const progress = opts.onProgress
    ? setInterval(() => opts.onProgress!(Math.min(1, (performance.now() - t0) / (end - t0)), requests), 200)
    : undefined;
  const loop = async () => {
    for (;;) {
      const start = performance.now();
      if (start >= end) return;
      let ok: boolean;
      try {
        const answer = await opts.send(seq++);
        ok = opts.check(answer);
        if (!ok) firstError ??= `HTTP ${answer.status}: ${answer.body.slice(0, 300)}`;
      } catch (err) {
        ok = false;
        firstError ??= String(err);
      }
      const done = performance.now();
      if (start >= measureFrom && done <= end) {
        if (ok) {
          requests += 1;
          latency.add(done - start);
        } else errors += 1;
      }
      // A failing target answers fast; do not spin on it.
      if (!ok) await sleep(1);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, loop));
  clearInterval(progress);
  return { requests, errors, firstError, ms: opts.durationMs, latency };
}

/**
 * Open loop: `total` arrivals at `ratePerSecond`, each fired at its scheduled time whatever the
 * system's answers; `fire` gets the schedule time (performance.now() clock) to measure from.
 */
export async function openLoop(opts: {
  ratePerSecond: number;
  total: number;
  fire: (i: number, scheduledAt: number) => void;
  onProgress?: (fraction: number) => void;
}): Promise<{ ms: number; maxLagMs: number }> {
  const t0 = performance.now();
  const interval = 1000 / opts.ratePerSecond;
  let sent = 0;
  let maxLagMs = 0;
  let lastProgress = t0;
  while (sent < opts.total) {
    const now = performance.now();
    const due = Math.min(opts.total, Math.floor((now - t0) / interval) + 1);
    if (due > sent) maxLagMs = Math.max(maxLagMs, now - (t0 + sent * interval));
    while (sent < due) {
      opts.fire(sent, t0 + sent * interval);
      sent += 1;
    }
    if (opts.onProgress && now - lastProgress > 200) {
      lastProgress = now;
      opts.onProgress(sent / opts.total);
    }
    // setTimeout(1) wakes every ~1 ms: at 2,000/s that fires about two attempts per wake-up.
    await sleep(1);
  }
  return { ms: performance.now() - t0, maxLagMs };
}

interface GqlResult {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** How long GqlSocket.open waits for the handshake and connection_ack. */
const OPEN_TIMEOUT_MS = 30_000;

/**
 * A minimal graphql-ws (graphql-transport-ws) client: connection_init with the token, then
 * `subscribe`/`next`/`error`/`complete` by id. One socket is one signed-in user, as on a phone.
 */
export class GqlSocket {
  private nextId = 1;
  private readonly ops = new Map<string, { next(r: GqlResult): void; done(err?: Error): void }>();
  private closed = false;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (raw: WebSocket.RawData) => this.onMessage(raw));
    ws.on('close', () => {
      this.closed = true;
      for (const op of this.ops.values()) op.done(new Error('socket closed'));
      this.ops.clear();
    });
  }

  static open(url: string, authorization?: string): Promise<GqlSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, 'graphql-transport-ws', {
        perMessageDeflate: false,
        handshakeTimeout: OPEN_TIMEOUT_MS,
      });
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error('graphql-ws: no connection_ack in time'));
      }, OPEN_TIMEOUT_MS);
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      ws.once('error', fail);
      ws.once('close', (code) => fail(new Error(`graphql-ws: closed before ack (${code})`)));
      ws.once('open', () =>
        ws.send(JSON.stringify({ type: 'connection_init', payload: authorization ? { authorization } : {} })),
      );
      ws.once('message', (raw: WebSocket.RawData) => {
        clearTimeout(timer);
        const msg = JSON.parse(rawText(raw)) as { type: string };
        if (msg.type !== 'connection_ack') {
          ws.terminate();
          reject(new Error(`graphql-ws: expected connection_ack, got ${msg.type}`));
          return;
        }
        ws.removeAllListeners('error');
        ws.removeAllListeners('close');
        ws.on('error', () => undefined); // surfaced through 'close'
        resolve(new GqlSocket(ws));
      });
    });
  }

  private onMessage(raw: WebSocket.RawData): void {
    const msg = JSON.parse(rawText(raw)) as { id?: string; type: string; payload?: unknown };
    if (msg.type === 'ping') {
      this.ws.send('{"type":"pong"}');
      return;
    }
    const op = msg.id ? this.ops.get(msg.id) : undefined;
    if (!op) return;
    switch (msg.type) {
      case 'next':
        op.next(msg.payload as GqlResult);
        break;
      case 'error':
        this.ops.delete(msg.id!);
        op.next({ errors: msg.payload as GqlResult['errors'] });
        op.done();
        break;
      case 'complete':
        this.ops.delete(msg.id!);
        op.done();
        break;
    }
  }

  /**
   * Starts an operation; `payloadJson` is the serialized `{query, variables}` (callers build it
   * once or by concatenation). Returns a function that stops it.
   */
  subscribe(payloadJson: string, next: (r: GqlResult) => void, done: (err?: Error) => void = () => undefined) {
    const id = String(this.nextId++);
    if (this.closed) {
      done(new Error('socket closed'));
      return () => undefined;
    }
    this.ops.set(id, { next, done });
    this.ws.send(`{"id":"${id}","type":"subscribe","payload":${payloadJson}}`);
    return () => {
      if (this.ops.delete(id) && !this.closed) this.ws.send(`{"id":"${id}","type":"complete"}`);
    };
  }

  /** A query or mutation: the single result. */
  request(payloadJson: string): Promise<GqlResult> {
    return new Promise((resolve, reject) => {
      let result: GqlResult | undefined;
      this.subscribe(
        payloadJson,
        (r) => (result = r),
        (err) => (err ? reject(err) : result ? resolve(result) : reject(new Error('completed without a result'))),
      );
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ws.close(1000);
  }
}

function rawText(raw: WebSocket.RawData): string {
  if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
  if (raw instanceof ArrayBuffer) return Buffer.from(raw).toString('utf8');
  return raw.toString('utf8');
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}
