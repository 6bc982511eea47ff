import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { StockGate } from '../src/infra/stock-gate.js';
import type { AccessTokens } from '../src/services/access-tokens.js';
import { bookingIdFor } from '../src/services/booking.service.js';
import {
  GqlSocket,
  HttpClient,
  closedLoop,
  forEachLimit,
  jsonHeaders,
  openLoop,
  type HttpAnswer,
  type RawHeaders,
} from './load.js';
import { ProcSampler, type CpuWindow } from './processes.js';
import type { Progress } from './progress.js';
import { Samples, group, rate, round, summarize, table, type Summary } from './stats.js';
import { bookingCounters, type SystemUnderTest } from './system.js';

/**
 * One run of the flash sale against the system under test: users, an event, readers, then the
 * burst, the sold-out and read throughput phases, the ramp, and the invariant checks.
 */

export interface BenchParams {
  tickets: number;
  users: number;
  gateways: number;
  workers: number;
  arrival: 'both' | 'burst' | 'ramp';
  rampRate: number;
  durationS: number;
  concurrency: number;
  readers: number;
  /** HTTP connections the burst's HTTP buyers share (each carries one attempt at a time). */
  burstConnections: number;
  /** HTTP connections of the ramp's open loop (opened before it starts). */
  rampConnections: number;
  /** Whether to run the closed-loop sold-out and read phases. */
  throughput: boolean;
  /** Share of burst buyers on graphql-ws (one socket each); the rest use HTTP. */
  wsShare: number;
  /** Seconds between creating the event and the sale opening (users read the page meanwhile). */
  openDelayS: number;
  /** Polling interval for attempts answered QUEUED over HTTP. */
  pollMs: number;
  /** Give up waiting for decisions after this long. */
  decideTimeoutS: number;
  warmupS: number;
}

export interface Ctx {
  sut: SystemUnderTest;
  params: BenchParams;
  db: pg.Pool;
  /** The system's stock gate (its namespace), read by the invariant checks. */
  gate: StockGate;
  tokens: AccessTokens;
  progress: Progress;
  sampler: ProcSampler;
  adminAuth: string;
}

// The operations, as a client app would keep them: pre-built strings, variables spliced in.
const BOOK =
  'mutation Book($e: ID!, $k: String!) { bookTicket(eventId: $e, quantity: 1, idempotencyKey: $k) { id status reason } }';
const BOOKING = 'query Booking($id: ID!) { booking(id: $id) { id status reason } }';
const BOOKING_UPDATED = 'subscription Decided($id: ID!) { bookingUpdated(id: $id) { id status reason } }';
const EVENT =
  'query Event($id: ID!) { event(id: $id) { id title venue startsAt saleStartsAt price currency ticketsTotal ticketsAvailable maxPerUser status } }';
const STOCK = 'subscription Stock($e: ID!) { stockChanged(eventId: $e) { eventId ticketsAvailable status at } }';
const CREATE_EVENT = 'mutation Create($input: CreateEventInput!) { createEvent(input: $input) { id ticketsTotal } }';

/** `{query, variables}` with the booking's event and key: one concatenation per attempt. */
export function bookPayload(eventId: string): (key: string) => string {
  const head = `{"query":${JSON.stringify(BOOK)},"variables":{"e":"${eventId}","k":"`;
  return (key) => `${head}${key}"}}`;
}
const bookingPayload = (id: string) => `{"query":${JSON.stringify(BOOKING)},"variables":{"id":"${id}"}}`;
const bookingUpdatedPayload = (id: string) => `{"query":${JSON.stringify(BOOKING_UPDATED)},"variables":{"id":"${id}"}}`;
export const eventPayload = (id: string) => `{"query":${JSON.stringify(EVENT)},"variables":{"id":"${id}"}}`;

interface BookingAnswer {
  id: string;
  status: 'QUEUED' | 'RESERVED' | 'REJECTED';
  reason: string | null;
}

type Parsed = { booking: BookingAnswer } | { error: string };

function parseBooking(field: 'bookTicket' | 'booking' | 'bookingUpdated', json: unknown): Parsed {
  const r = json as {
    data?: Record<string, BookingAnswer | null> | null;
    errors?: { message: string; extensions?: { code?: string } }[];
  };
  const booking = r.data?.[field];
  if (booking && !r.errors?.length) return { booking };
  const e = r.errors?.[0];
  return { error: e ? `${e.extensions?.code ?? 'ERROR'}: ${e.message}` : `no ${field} in answer` };
}

function parseHttpBooking(field: 'bookTicket' | 'booking', answer: HttpAnswer): Parsed {
  try {
    return parseBooking(field, JSON.parse(answer.body));
  } catch {
    return { error: `HTTP ${answer.status}: ${answer.body.slice(0, 200)}` };
  }
}

interface Users {
  ids: string[];
  /** `Bearer <token>` per user. */
  auth: string[];
  /** Pre-built HTTP header lists per user. */
  headers: RawHeaders[];
}

/**
 * Buyers written straight into Postgres (multi-row inserts) with tokens minted from the system's
 * secret, like test/support/fixtures.ts: signing in is not what this measures.
 */
export async function createUsers(
  ctx: Pick<Ctx, 'db' | 'tokens' | 'progress'>,
  count: number,
  role: 'USER' | 'ADMIN' = 'USER',
): Promise<Users> {
  const tag = randomBytes(4).toString('hex');
  const ids = Array.from({ length: count }, () => randomUUID());
  const emails = ids.map((_, i) => `bench-${tag}-${i}@example.test`);
  const chunk = 2000;
  for (let i = 0; i < count; i += chunk) {
    const n = Math.min(chunk, count - i);
    const values = Array.from(
      { length: n },
      (_, j) => `($${2 * j + 1}, $${2 * j + 2}, 'Bench buyer', 'not-a-hash', '${role}')`,
    );
    const params: string[] = [];
    for (let j = 0; j < n; j++) params.push(ids[i + j]!, emails[i + j]!);
    await ctx.db.query(`insert into users (id, email, name, password_hash, role) values ${values.join(', ')}`, params);
    ctx.progress.update((i + n) / count / 2, `${group(i + n)} users inserted`);
  }
  const auth: string[] = new Array<string>(count);
  for (let i = 0; i < count; i += 1000) {
    await Promise.all(
      ids.slice(i, i + 1000).map(async (id, j) => {
        auth[i + j] = `Bearer ${await ctx.tokens.issue({ id, email: emails[i + j]!, role, tokenVersion: 0 })}`;
      }),
    );
    ctx.progress.update(0.5 + Math.min(count, i + 1000) / count / 2, `${group(Math.min(count, i + 1000))} tokens`);
  }
  return { ids, auth, headers: auth.map((a) => jsonHeaders(a)) };
}

export async function createEvent(
  ctx: Pick<Ctx, 'adminAuth'>,
  client: HttpClient,
  opts: { title: string; tickets: number; saleStartsAt: Date },
): Promise<string> {
  const input = {
    title: opts.title,
    description: 'A flash sale run by the benchmark.',
    venue: 'Bench Arena',
    startsAt: new Date(Date.now() + 48 * 3600_000).toISOString(),
    saleStartsAt: opts.saleStartsAt.toISOString(),
    price: 5000,
    currency: 'USD',
    ticketsTotal: opts.tickets,
    maxPerUser: 4,
  };
  const answer = await client.graphql(
    JSON.stringify({ query: CREATE_EVENT, variables: { input } }),
    jsonHeaders(ctx.adminAuth),
  );
  const body = JSON.parse(answer.body) as { data?: { createEvent?: { id: string } }; errors?: unknown };
  if (!body.data?.createEvent) throw new Error(`createEvent failed: ${answer.body.slice(0, 500)}`);
  return body.data.createEvent.id;
}

// Outcome codes per attempt. Only PENDING, RESERVED and SOLD_OUT are told apart later; OTHER (another
// rejection, or given up after MAX_RETRIES errors) marks the attempt decided all the same.
const PENDING = 0;
const RESERVED = 1;
const SOLD_OUT = 2;
const OTHER = 3;
const MAX_RETRIES = 20;
/** Concurrent booking(id) polls for attempts answered QUEUED over HTTP (each on its own connection). */
const POLLERS = 64;

/** Every attempt of a phase: when it was sent, answered and decided (performance.now() ms), and how. */
class Attempts {
  readonly sentAt: Float64Array;
  readonly answeredAt: Float64Array;
  readonly decidedAt: Float64Array;
  readonly outcome: Uint8Array;
  private readonly retries: Uint8Array;
  readonly reasons = new Map<string, number>();
  sent = 0;
  answered = 0;
  decided = 0;
  reserved = 0;
  queued = 0;
  errors = 0;
  firstError: string | undefined;
  private resolveAll: () => void = () => undefined;
  readonly allDecided: Promise<void>;

  constructor(readonly total: number) {
    this.sentAt = new Float64Array(total);
    this.answeredAt = new Float64Array(total);
    this.decidedAt = new Float64Array(total);
    this.outcome = new Uint8Array(total);
    this.retries = new Uint8Array(total);
    this.allDecided = new Promise((resolve) => (this.resolveAll = resolve));
    if (total === 0) this.resolveAll();
  }

  /** The first send of attempt `i` (retries keep it), at `at` (performance.now() ms). */
  markSent(i: number, at: number): void {
    if (this.sentAt[i] !== 0) return;
    this.sentAt[i] = at;
    this.sent += 1;
  }

  /** bookTicket answered (a decision or QUEUED). */
  markAnswered(i: number, at: number): void {
    if (this.answeredAt[i] === 0) this.answered += 1;
    this.answeredAt[i] = at;
  }

  decide(i: number, booking: BookingAnswer | null, at: number): void {
    if (this.outcome[i] !== PENDING) return;
    if (!booking) this.outcome[i] = OTHER;
    else if (booking.status === 'RESERVED') {
      this.outcome[i] = RESERVED;
      this.reserved += 1;
    } else {
      this.outcome[i] = booking.reason === 'SOLD_OUT' ? SOLD_OUT : OTHER;
      const reason = booking.reason ?? 'REJECTED';
      this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
    }
    this.decidedAt[i] = at;
    this.decided += 1;
    if (this.decided === this.total) this.resolveAll();
  }

  /**
   * Records a bookTicket answer: a decision, or QUEUED (then `followQueued` learns the booking
   * id). Returns false when the attempt must be sent again (an error answer).
   */
  answer(i: number, parsed: Parsed, followQueued: (bookingId: string) => void): boolean {
    const now = performance.now();
    if ('error' in parsed) {
      this.error(parsed.error);
      return false;
    }
    this.markAnswered(i, now);
    if (parsed.booking.status === 'QUEUED') {
      this.queued += 1;
      followQueued(parsed.booking.id);
    } else this.decide(i, parsed.booking, now);
    return true;
  }

  error(message: string): void {
    this.errors += 1;
    this.firstError ??= message;
  }

  /** After an error answer: whether to send attempt `i` again (a client retries, with the same key, a few times). */
  retry(i: number): boolean {
    if (this.retries[i]! < MAX_RETRIES) {
      this.retries[i]! += 1;
      return true;
    }
    this.decide(i, null, performance.now());
    return false;
  }

  /** Latencies from send to `to`, for attempts that got there. */
  latencies(to: Float64Array): Summary {
    const s = new Samples(this.total);
    for (let i = 0; i < this.total; i++) if (to[i]! > 0) s.add(to[i]! - this.sentAt[i]!);
    return s.summary();
  }

  firstSent(): number {
    let min = Infinity;
    for (let i = 0; i < this.total; i++) if (this.sentAt[i]! > 0 && this.sentAt[i]! < min) min = this.sentAt[i]!;
    return min;
  }

  lastOf(arr: Float64Array, code?: number): number {
    let max = 0;
    for (let i = 0; i < this.total; i++)
      if ((code === undefined || this.outcome[i] === code) && arr[i]! > max) max = arr[i]!;
    return max;
  }
}

/**
 * Follows attempts answered QUEUED over HTTP: `booking(id)` with the buyer's token, each pending
 * attempt at most once per `intervalMs`, oldest first, `concurrency` polls in flight. The decision
 * time it records is when the client learned it (up to one interval late).
 */
class QueuedPoller {
  private queue: { i: number; id: string; dueAt: number }[] = [];
  private head = 0;
  private stopped = false;
  private readonly loops: Promise<void>[];

  constructor(
    private readonly attempts: Attempts,
    private readonly clients: HttpClient[],
    private readonly headersFor: (i: number) => RawHeaders,
    private readonly intervalMs: number,
    concurrency: number,
  ) {
    this.loops = Array.from({ length: concurrency }, (_, k) => this.loop(k));
  }

  add(i: number, bookingId: string): void {
    this.queue.push({ i, id: bookingId, dueAt: performance.now() + this.intervalMs });
  }

  private async loop(k: number): Promise<void> {
    const client = this.clients[k % this.clients.length]!;
    while (!this.stopped) {
      if (this.head >= this.queue.length) {
        await sleep(10);
        continue;
      }
      const item = this.queue[this.head++]!;
      if (this.head > 50_000) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      if (this.attempts.outcome[item.i] !== PENDING) continue;
      const wait = item.dueAt - performance.now();
      if (wait > 0) await sleep(wait);
      try {
        const parsed = parseHttpBooking(
          'booking',
          await client.graphql(bookingPayload(item.id), this.headersFor(item.i)),
        );
        if ('booking' in parsed && parsed.booking.status !== 'QUEUED') {
          this.attempts.decide(item.i, parsed.booking, performance.now());
          continue;
        }
        if ('error' in parsed) this.attempts.error(`booking(id): ${parsed.error}`);
      } catch (err) {
        this.attempts.error(`booking(id): ${String(err)}`);
      }
      this.queue.push({ ...item, dueAt: performance.now() + this.intervalMs });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}

/** Readers: each refreshes the event page every second over HTTP and watches stockChanged over graphql-ws. */
class Readers {
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
    const clients = gatewayOrigins.map(
      (o) => new HttpClient(o, Math.max(1, Math.ceil(Math.min(count, 256) / gatewayOrigins.length))),
    );
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

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const stop of this.stops) stop();
    for (const s of this.sockets) s.close();
    await Promise.all(this.clients.map((c) => c.close()));
  }
}

function wsUrl(origin: string): string {
  return `${origin.replace(/^http/, 'ws')}/graphql`;
}

interface TimelineRow {
  /** Seconds since the phase started (end of the interval). */
  t: number;
  /** Length of the interval, seconds. */
  dt: number;
  /** Per counter: how many in this interval; per gauge: its value at the end. */
  counts: Record<string, number>;
  /** Cores used per process in this interval. */
  cpu: Record<string, number | null>;
  machineCores: number | null;
}

/** Once a second: what the clients counted and how busy each process was, to see where a phase stalls. */
class Timeline {
  readonly rows: TimelineRow[] = [];
  private readonly t0 = performance.now();
  private prevMark: ReturnType<ProcSampler['mark']>;
  private prevCounts: Record<string, number>;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly sampler: ProcSampler,
    private readonly counts: () => Record<string, number>,
    private readonly gauges: () => Record<string, number> = () => ({}),
  ) {
    this.prevMark = sampler.mark();
    this.prevCounts = counts();
    this.timer = setInterval(() => this.tick(), 1000);
  }

  private tick(): void {
    const mark = this.sampler.mark();
    const dt = (mark.at - this.prevMark.at) / 1000;
    if (dt < 0.2 && this.rows.length > 0) return; // a sliver at the end says nothing per second
    const counts = this.counts();
    this.rows.push({
      t: Math.round((mark.at - this.t0) / 100) / 10,
      dt: Math.round(dt * 1000) / 1000,
      counts: {
        ...Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v - (this.prevCounts[k] ?? 0)])),
        ...this.gauges(),
      },
      cpu: Object.fromEntries(ProcSampler.cpuBetween(this.prevMark, mark).map((c) => [c.name, round(c.cores, 2)])),
      machineCores: round(ProcSampler.machineBetween(this.prevMark, mark), 2),
    });
    this.prevMark = mark;
    this.prevCounts = counts;
  }

  stop(): TimelineRow[] {
    clearInterval(this.timer);
    this.tick();
    return this.rows;
  }
}

/**
 * The timeline as a small table (stderr): counters per second (gauges, listed in `gauges`, as
 * they are), then the cores of every process that used at least 5% of one.
 */
function renderTimeline(rows: readonly TimelineRow[], gauges: readonly string[] = []): string {
  if (rows.length === 0) return '';
  const counters = Object.keys(rows[0]!.counts);
  const procs = Object.keys(rows[0]!.cpu).filter((name) => rows.some((r) => (r.cpu[name] ?? 0) >= 0.05));
  const head = counters.map((c) => (gauges.includes(c) ? c : `${c}/s`));
  const out: string[][] = [['t (s)', ...head, ...procs, 'machine']];
  for (const r of rows) {
    const dt = Math.max(0.001, r.dt);
    out.push([
      r.t.toFixed(1),
      ...counters.map((c) => group(Math.round((r.counts[c] ?? 0) / (gauges.includes(c) ? 1 : dt)))),
      ...procs.map((name) => (r.cpu[name] ?? 0).toFixed(2)),
      (r.machineCores ?? 0).toFixed(2),
    ]);
  }
  return table(out);
}

interface InvariantCheck {
  eventId: string;
  total: number;
  /** Tickets in RESERVED bookings. */
  reserved: number;
  /** Tickets in orders that hold them (UNPAID, PAYING, FAILED, SUCCEEDED). */
  held: number;
  pgAvailable: number;
  redisStock: number | null;
  redisInflight: number;
  oversold: number;
  /** Clients told RESERVED. */
  clientReserved: number;
  ok: boolean;
  problems: string[];
}

async function checkInvariants(
  ctx: Ctx,
  eventId: string,
  total: number,
  clientReserved: number,
  expectSoldOut: boolean,
): Promise<InvariantCheck> {
  const { rows } = await ctx.db.query<{ reserved: string; held: string; available: number }>(
    `select
       (select coalesce(sum(quantity), 0) from bookings where event_id = $1 and status = 'RESERVED') as reserved,
       (select coalesce(sum(quantity), 0) from orders where event_id = $1
          and status in ('UNPAID', 'PAYING', 'FAILED', 'SUCCEEDED')) as held,
       (select available from stock where event_id = $1) as available`,
    [eventId],
  );
  const row = rows[0]!;
  const { stock: redisStock, inflightQty } = await ctx.gate.summary(eventId);
  const reserved = Number(row.reserved);
  const held = Number(row.held);
  const pgAvailable = Number(row.available);
  const problems: string[] = [];
  if (reserved > total) problems.push(`oversold by ${reserved - total}`);
  if (held + pgAvailable !== total) problems.push(`held ${held} + available ${pgAvailable} ≠ total ${total}`);
  if (expectSoldOut && reserved !== total) problems.push(`reserved ${reserved} ≠ total ${total} (undersold)`);
  if (expectSoldOut && pgAvailable !== 0) problems.push(`Postgres stock ${pgAvailable} ≠ 0`);
  if (redisStock !== pgAvailable) problems.push(`Redis stock ${redisStock} ≠ Postgres ${pgAvailable}`);
  if (clientReserved !== reserved) problems.push(`clients told RESERVED ${clientReserved} ≠ Postgres ${reserved}`);
  return {
    eventId,
    total,
    reserved,
    held,
    pgAvailable,
    redisStock,
    redisInflight: inflightQty,
    oversold: Math.max(0, reserved - total),
    clientReserved,
    ok: problems.length === 0,
    problems,
  };
}

/** The end of a phase's progress line: the invariants' verdict. */
function invariantsNote(inv: InvariantCheck): string {
  return inv.ok ? 'invariants hold' : `INVARIANTS BROKEN: ${inv.problems.join('; ')}`;
}

/**
 * Decision times as Postgres recorded them (bookings.decided_at: the deciding transaction's time),
 * exact for every attempt whatever the client learned and when:
 *   committed: attempt sent (client clock) → decided_at; an attempt rejected at the gateway has no
 *              row and counts its answer (that was the decision);
 *   admitted:  bookings.requested_at (stamped when the gateway began the call) → decided_at, so
 *              `committed − admitted` is time spent before the gateway got to the request.
 * Booking ids are derived from (user, key) exactly as the service derives them.
 */
async function serverDecisionTimes(
  ctx: Ctx,
  eventId: string,
  attempts: Attempts,
  bookingIdOf: (i: number) => string,
): Promise<{ committed: Summary; admitted: Summary; lastReservedEpochMs: number }> {
  const { rows } = await ctx.db.query<{ id: string; decided: number; admitted: number; reserved: boolean }>(
    `select id, extract(epoch from decided_at) * 1000 as decided,
            extract(epoch from (decided_at - requested_at)) * 1000 as admitted, status = 'RESERVED' as reserved
     from bookings where event_id = $1`,
    [eventId],
  );
  const decidedAt = new Map(rows.map((r) => [r.id, Number(r.decided)]));
  const committed = new Samples(attempts.total);
  for (let i = 0; i < attempts.total; i++) {
    if (attempts.sentAt[i] === 0) continue;
    const at = decidedAt.get(bookingIdOf(i));
    if (at !== undefined) committed.add(at - toEpoch(attempts.sentAt[i]!));
    else if (attempts.decidedAt[i]! > 0) committed.add(attempts.decidedAt[i]! - attempts.sentAt[i]!);
  }
  const reservedAt = rows.filter((r) => r.reserved).map((r) => Number(r.decided));
  return {
    committed: committed.summary(),
    admitted: summarize(rows.map((r) => Number(r.admitted))),
    lastReservedEpochMs: reservedAt.length ? reservedAt.reduce((a, b) => Math.max(a, b)) : NaN,
  };
}

const toEpoch = (perfMs: number) => performance.timeOrigin + perfMs;

function gatewayRejections(
  before: Map<string, number>,
  after: Map<string, number>,
): { gateway: number; worker: number } {
  let gateway = 0;
  let worker = 0;
  for (const [key, value] of after) {
    const delta = value - (before.get(key) ?? 0);
    const [stage, outcome] = key.split(':');
    if (stage === 'gateway' && outcome !== 'QUEUED' && outcome !== 'UNAVAILABLE') gateway += delta;
    if (stage === 'worker') worker += delta;
  }
  return { gateway, worker };
}

export interface PhaseCpu {
  phase: string;
  seconds: number;
  cpu: CpuWindow[];
  /** Cores the whole machine was busy (/proc/stat): above the sum of `cpu`, someone else was using it. */
  machineCores: number;
}

/** A closed-loop phase: good answers per second, their latency, and the answers `check` refused. */
interface Throughput {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  firstError: string | undefined;
}

export interface RunResult {
  burst?: {
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
    bookTicket: Summary;
    decision: Summary;
    /** Attempt sent → Postgres decision (see serverDecisionTimes). */
    committedDecision: Summary;
    /** Gateway began the call → Postgres decision. */
    admittedDecision: Summary;
    queuedAnswers: number;
    errors: number;
    firstError: string | undefined;
    undecided: number;
    reasons: Record<string, number>;
    rejectedAtGateway: number;
    decidedByWorkers: number;
    rejectedAtGatewayShare: number;
    readsDuringSale: { count: number; perSec: number; p50Ms: number; p99Ms: number; errors: number };
    stockMessagesPerReader: number;
    invariants: InvariantCheck;
    timeline: TimelineRow[];
  };
  soldOut?: Throughput;
  read?: Throughput;
  ramp?: {
    eventId: string;
    rate: number;
    attempts: number;
    maxLagMs: number;
    connections: number;
    /** Most attempts that waited in the client for a free connection (0: the generator kept up). */
    maxClientQueue: number;
    bookTicket: Summary;
    decision: Summary;
    /** Attempt sent → Postgres decision (see serverDecisionTimes). */
    committedDecision: Summary;
    /** Gateway began the call → Postgres decision. */
    admittedDecision: Summary;
    queuedAnswers: number;
    errors: number;
    firstError: string | undefined;
    undecided: number;
    reasons: Record<string, number>;
    invariants: InvariantCheck;
    timeline: TimelineRow[];
  };
  cpu: PhaseCpu[];
  /** Peak RSS per process during the run, and RSS right after it, MB. */
  rssPeakMb: Record<string, number>;
  rssAfterMb: Record<string, number>;
}

/** Measures CPU of every watched process over `fn`. */
async function withCpu<T>(ctx: Ctx, phase: string, cpu: PhaseCpu[], fn: () => Promise<T>): Promise<T> {
  const a = ctx.sampler.mark();
  try {
    return await fn();
  } finally {
    const b = ctx.sampler.mark();
    cpu.push({
      phase,
      seconds: (b.at - a.at) / 1000,
      cpu: ProcSampler.cpuBetween(a, b),
      machineCores: ProcSampler.machineBetween(a, b),
    });
  }
}

export async function runOnce(ctx: Ctx, run: number): Promise<RunResult> {
  const { params: p, sut, progress } = ctx;
  const G = sut.gatewayOrigins.length;
  const result: RunResult = { cpu: [], rssPeakMb: {}, rssAfterMb: {} };
  ctx.sampler.resetPeaks();
  const small = sut.gatewayOrigins.map((o) => new HttpClient(o, 4));
  const closedClients = sut.gatewayOrigins.map((o) => new HttpClient(o, Math.max(1, Math.ceil(p.concurrency / G))));
  await Promise.all([...small, ...closedClients].map((c) => c.warm()));

  progress.start(`run ${run}: creating ${group(p.users)} users`);
  const users = await createUsers(ctx, p.users);
  progress.done(`${group(p.users)} users with tokens`);

  let soldOutEvent: string | undefined;
  let losers: number[] = [];

  if (p.arrival !== 'ramp') {
    const wsCount = Math.round(p.users * p.wsShare);
    const wsUsers = Array.from({ length: wsCount }, (_, i) => i);
    const httpUsers = Array.from({ length: p.users - wsCount }, (_, i) => wsCount + i);
    const sockets: GqlSocket[] = new Array<GqlSocket>(wsCount);
    progress.start(`run ${run}: opening ${group(wsCount)} graphql-ws buyer sockets`);
    let opened = 0;
    await forEachLimit(wsUsers, 100, async (u) => {
      sockets[u] = await GqlSocket.open(wsUrl(sut.gatewayOrigins[u % G]!), users.auth[u]);
      if (++opened % 500 === 0) progress.update(opened / wsCount, `${group(opened)} open`);
    });
    progress.done(`${group(wsCount)} sockets`);

    const saleStartsAt = new Date(Date.now() + p.openDelayS * 1000);
    const eventId = await createEvent(ctx, small[0]!, { title: `Flash sale ${run}`, tickets: p.tickets, saleStartsAt });
    soldOutEvent = eventId;
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

    const attempts = new Attempts(p.users);
    const book = bookPayload(eventId);
    const key = `sale-${run}`;
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
      reads: readers.reads.length,
    }));
    await withCpu(ctx, `burst (run ${run})`, result.cpu, async () => {
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
      for (const u of wsUsers) sendWs(u);

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
      const connections = Math.min(p.burstConnections, httpUsers.length);
      const httpDone = Promise.all(
        Array.from({ length: connections }, async (_, k) => {
          const client = burstClients[k % G]!;
          while (next < httpUsers.length) await sendHttp(httpUsers[next++]!, client);
        }),
      );
      // Unref'd: a pending timer would keep the process alive for the rest of decide-timeout after the report.
      await Promise.race([attempts.allDecided, sleep(p.decideTimeoutS * 1000, undefined, { ref: false })]);
      await Promise.race([httpDone, sleep(1000, undefined, { ref: false })]);
    });
    clearInterval(progressTimer);
    const burstTimeline = timeline.stop();
    await poller.stop();
    await Promise.all(pollClients.map((c) => c.close()));
    const metricsAfter = await bookingCounters(sut.metricsTargets);
    await readers.close();
    for (const s of sockets) s?.close();
    await Promise.all(burstClients.map((c) => c.close()));

    const first = attempts.firstSent();
    const lastSent = attempts.lastOf(attempts.sentAt);
    const lastDecided = attempts.lastOf(attempts.decidedAt);
    const lastReserved = attempts.lastOf(attempts.decidedAt, RESERVED);
    const server = await serverDecisionTimes(ctx, eventId, attempts, (i) => bookingIdFor(users.ids[i]!, key));
    const stages = gatewayRejections(metricsBefore, metricsAfter);
    const invariants = await checkInvariants(ctx, eventId, p.tickets, attempts.reserved, p.users >= p.tickets);
    const soldOutSeen = readers.soldOutSeen(first);
    const saleSeconds = (lastDecided - first) / 1000;
    result.burst = {
      eventId,
      attempts: p.users,
      wsAttempts: wsCount,
      httpAttempts: httpUsers.length,
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
      },
      stockMessagesPerReader: p.readers ? readers.stockMessages / p.readers : NaN,
      invariants,
      timeline: burstTimeline,
    };
    for (let i = 0; i < p.users; i++) if (attempts.outcome[i] === SOLD_OUT) losers.push(i);
    progress.log(`burst, per second:\n${renderTimeline(burstTimeline)}`);
    progress.done(`sold out in ${Math.round(result.burst.selloutMs)} ms, ${invariantsNote(invariants)}`);
  }

  if (!soldOutEvent && p.throughput) {
    // Ramp only: a one-ticket event sold to the first buyer gives the sold-out phase its target.
    soldOutEvent = await createEvent(ctx, small[0]!, {
      title: `Sold out ${run}`,
      tickets: 1,
      saleStartsAt: new Date(Date.now() - 60_000),
    });
    await small[0]!.graphql(bookPayload(soldOutEvent)('take-it'), users.headers[0]!);
    losers = Array.from({ length: p.users - 1 }, (_, i) => i + 1);
  }
  if (losers.length === 0) losers = [0];

  // Closed-loop throughput: bookTicket on the sold-out event (buyers without a ticket), then event(id).
  const closedPhase = async (
    phase: string,
    what: string,
    send: (i: number) => Promise<HttpAnswer>,
    check: (a: HttpAnswer) => boolean,
  ): Promise<Throughput> => {
    progress.start(`run ${run}: ${what}, ${p.concurrency} connections`);
    const r = await withCpu(ctx, `${phase} (run ${run})`, result.cpu, () =>
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
  };
  if (soldOutEvent && p.throughput) {
    const book = bookPayload(soldOutEvent);
    result.soldOut = await closedPhase(
      'soldOut',
      'bookTicket on the sold-out event',
      (i) => closedClients[i % G]!.graphql(book(`late-${run}-${i}`), users.headers[losers[i % losers.length]!]!),
      (a) => a.status === 200 && a.body.includes('"SOLD_OUT"'),
    );
    const body = eventPayload(soldOutEvent);
    const headers = jsonHeaders();
    result.read = await closedPhase(
      'read',
      'event(id) reads',
      (i) => closedClients[i % G]!.graphql(body, headers),
      (a) => a.status === 200 && a.body.includes('"ticketsAvailable"'),
    );
  }

  if (p.arrival !== 'burst') {
    const total = Math.max(1, Math.round(p.rampRate * p.durationS));
    // Enough tickets that the event never sells out: every attempt goes through a worker.
    const tickets = total + 100;
    const eventId = await createEvent(ctx, small[0]!, {
      title: `Ramp ${run}`,
      tickets,
      saleStartsAt: new Date(Date.now() - 1000),
    });
    const attempts = new Attempts(total);
    const book = bookPayload(eventId);
    const rampClients = sut.gatewayOrigins.map((o) => new HttpClient(o, Math.max(1, Math.ceil(p.rampConnections / G))));
    await Promise.all(rampClients.map((c) => c.warm()));
    const userOf = (i: number) => i % p.users;
    const pollClients = sut.gatewayOrigins.map((o) => new HttpClient(o, Math.ceil(POLLERS / G)));
    const poller = new QueuedPoller(attempts, pollClients, (i) => users.headers[userOf(i)]!, p.pollMs, POLLERS);
    progress.start(`run ${run}: ramp, ${group(p.rampRate)} attempts/s for ${p.durationS}s (open loop)`);
    const timeline = new Timeline(
      ctx.sampler,
      () => ({ sent: attempts.sent, answered: attempts.answered, decided: attempts.decided }),
      () => ({ waiting: rampClients.reduce((n, c) => n + c.waiting, 0) }),
    );
    const lag = await withCpu(ctx, `ramp (run ${run})`, result.cpu, async () => {
      const fire = (i: number, scheduledAt: number) => {
        attempts.markSent(i, scheduledAt);
        const answered = (parsed: Parsed) => {
          if (!attempts.answer(i, parsed, (id) => poller.add(i, id)) && attempts.retry(i))
            setTimeout(() => fire(i, scheduledAt), 100);
        };
        rampClients[i % G]!.graphql(book(`ramp-${run}-${i}`), users.headers[userOf(i)]!).then(
          (a) => answered(parseHttpBooking('bookTicket', a)),
          (err: unknown) => answered({ error: `http: ${String(err)}` }),
        );
      };
      const loop = await openLoop({
        ratePerSecond: p.rampRate,
        total,
        fire,
        onProgress: (f) => progress.update(f, `${group(attempts.decided)}/${group(total)} decided`),
      });
      await Promise.race([attempts.allDecided, sleep(p.decideTimeoutS * 1000, undefined, { ref: false })]);
      return loop.maxLagMs;
    });
    const rampTimeline = timeline.stop();
    await poller.stop();
    await Promise.all([...rampClients, ...pollClients].map((c) => c.close()));
    const server = await serverDecisionTimes(ctx, eventId, attempts, (i) =>
      bookingIdFor(users.ids[userOf(i)]!, `ramp-${run}-${i}`),
    );
    const invariants = await checkInvariants(ctx, eventId, tickets, attempts.reserved, false);
    result.ramp = {
      eventId,
      rate: p.rampRate,
      attempts: total,
      maxLagMs: lag,
      connections: rampClients.reduce((n, c) => n + c.connections, 0),
      maxClientQueue: rampClients.reduce((n, c) => n + c.maxWaiting, 0),
      bookTicket: attempts.latencies(attempts.answeredAt),
      decision: attempts.latencies(attempts.decidedAt),
      committedDecision: server.committed,
      admittedDecision: server.admitted,
      queuedAnswers: attempts.queued,
      errors: attempts.errors,
      firstError: attempts.firstError,
      undecided: total - attempts.decided,
      reasons: Object.fromEntries(attempts.reasons),
      invariants,
      timeline: rampTimeline,
    };
    progress.log(
      `ramp, per second ("waiting": attempts queued in the client for a free connection):\n${renderTimeline(rampTimeline, ['waiting'])}`,
    );
    progress.done(`decision p99 ${result.ramp.decision.p99.toFixed(1)} ms, ${invariantsNote(invariants)}`);
  }

  await Promise.all([...small, ...closedClients].map((c) => c.close()));
  result.rssPeakMb = ctx.sampler.rssPeaks();
  await sleep(1000); // let the processes settle before the "after the run" reading
  result.rssAfterMb = ctx.sampler.rssNow();
  return result;
}
