/**
 * The waiting-room benchmark (issue 15): `npm run bench -- --waiting-room [--users U] [--tickets T]
 * [--subscribers S] [--admit-per-second R] [--open-delay SECONDS]`.
 *
 * U buyers (default 200,000; straight into Postgres, tokens minted with the shared secret) join an
 * event's waiting room over HTTP before its sale opens; S of them (default 2,000) also watch their
 * pass over graphql-ws. When the sale opens the runner shuffles the pre-queue and admits at R per
 * second (unset: the rate derived from the pipeline). Every admitted buyer books one ticket at once
 * with the admission a client gets from its pass (minted here from the same secret: the bench does
 * not poll 200,000 passes); the sale runs until sold out. Reported: time to sell out, the admission
 * rate, admitted-to-decision p50/p99, the share of watching buyers who learned CLOSED within 2 s of
 * the sell-out, gateway CPU per 100,000 watched waiting buyers, and, in the same run, the burst of
 * the plain flash sale (no waiting room) with the same tickets.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AdmissionTokens } from '../src/services/waiting-room/admission-token.js';
import { GqlSocket, HttpClient, forEachLimit } from './load.js';
import { ProcSampler } from './processes.js';
import type { Ctx } from './context.js';
import { runOnce } from './scenario.js';
import { createUsers } from './seed.js';
import { Samples, fmtMs, fmtPct, fmtRate, group, round, table } from './stats.js';

export interface WaitingRoomBenchOptions {
  users: number;
  tickets: number;
  subscribers: number;
  admitPerSecond: number | null;
  /** Seconds from creating the event to the sale (`--open-delay`); null: room for 400 joins a second. */
  openAfterS: number | null;
}

const JOIN = 'mutation Join($e: ID!) { joinWaitingRoom(eventId: $e) { state position } }';
const WATCH = 'subscription Watch($e: ID!) { queuePassUpdated(eventId: $e) { state position ahead } }';
const CREATE =
  'mutation Create($input: CreateEventInput!) { createEvent(input: $input) { id saleStartsAt waitingRoom { opensAt } } }';
const BOOK =
  'mutation Book($e: ID!, $k: String!, $a: String) { bookTicket(eventId: $e, quantity: 1, idempotencyKey: $k, admissionToken: $a) { id status reason } }';
const BOOKING = 'query Booking($id: ID!) { booking(id: $id) { id status reason } }';
/** HTTP connections per gateway for the joins and the bookings. */
const CONNECTIONS = 256;

interface Watcher {
  socket: GqlSocket;
  closedAt: number | null;
  pushes: number;
}

export async function runWaitingRoomBench(ctx: Ctx, opts: WaitingRoomBenchOptions): Promise<Record<string, unknown>> {
  const { sut, progress, sampler, db } = ctx;
  const origins = sut.gatewayOrigins;
  const clients = origins.map((o) => new HttpClient(o, CONNECTIONS));
  await Promise.all(clients.map((c) => c.warm()));
  const client = (i: number) => clients[i % clients.length]!;
  const gatewayNames = sut.appProcessNames.filter((n) => n.startsWith('gateway'));
  const gatewayCores = (a: ReturnType<ProcSampler['mark']>, b: ReturnType<ProcSampler['mark']>) =>
    ProcSampler.cpuBetween(a, b)
      .filter((c) => gatewayNames.includes(c.name))
      .reduce((sum, c) => sum + c.cores, 0);

  progress.start(`${group(opts.users)} buyers`);
  const users = await createUsers(ctx, opts.users);
  progress.done('inserted, tokens minted');

  const createRoomEvent = async (title: string, saleStartsAt: Date, tickets: number, admitPerSecond: number | null) => {
    const created = await client(0).graphql(
      JSON.stringify({
        query: CREATE,
        variables: {
          input: {
            title,
            description: 'A hot sale behind a waiting room.',
            venue: 'Bench Arena',
            startsAt: new Date(Date.now() + 48 * 3600_000).toISOString(),
            saleStartsAt: saleStartsAt.toISOString(),
            price: 5000,
            ticketsTotal: tickets,
            maxPerUser: 1,
            waitingRoom: { opensMinutesBefore: 30, admitPerSecond, admissionSeconds: 120 },
          },
        },
      }),
      ['content-type', 'application/json', 'authorization', ctx.adminAuth],
    );
    const id = (JSON.parse(created.body) as { data?: { createEvent?: { id: string } } }).data?.createEvent?.id;
    if (!id) throw new Error(`createEvent failed: ${created.body}`);
    return id;
  };
  const subscribe = (w: Watcher, eventId: string) =>
    w.socket.subscribe(`{"query":${JSON.stringify(WATCH)},"variables":{"e":"${eventId}"}}`, (r) => {
      w.pushes++;
      const state = (r.data as { queuePassUpdated?: { state: string } } | undefined)?.queuePassUpdated?.state;
      if (state === 'CLOSED' && w.closedAt === null) w.closedAt = Date.now();
    });

  // The gateway's own background (health checks, metrics, counters of no room) for comparison.
  await sleep(2000);
  const idleA = sampler.mark();
  await sleep(5000);
  const idleCores = gatewayCores(idleA, sampler.mark());

  // The cost of a moving queue at the gateway: S buyers watch a room on sale that admits one pass a
  // second (so every watcher's place changes, and is pushed, every second), with no bookings.
  progress.start(`${group(opts.subscribers)} buyers watch a moving queue over graphql-ws`);
  const watchEvent = await createRoomEvent('Waiting-room bench: watching', new Date(Date.now() - 1000), 1, 1);
  await sleep(1000); // the runner's first round shuffles the (empty) pre-queue: these joins are FIFO
  const watchers: Watcher[] = [];
  await forEachLimit(users.auth.slice(0, opts.subscribers), 100, async (auth, i) => {
    await client(i).graphql(`{"query":${JSON.stringify(JOIN)},"variables":{"e":"${watchEvent}"}}`, users.headers[i]!);
    const socket = await GqlSocket.open(`${origins[i % origins.length]!.replace(/^http/, 'ws')}/graphql`, auth);
    watchers.push({ socket, closedAt: null, pushes: 0 });
  });
  const stops = watchers.map((w) => subscribe(w, watchEvent));
  await sleep(3000);
  const watchPushesBefore = watchers.reduce((n, w) => n + w.pushes, 0);
  const watchA = sampler.mark();
  await sleep(10_000);
  const watchB = sampler.mark();
  const watchPushes = watchers.reduce((n, w) => n + w.pushes, 0) - watchPushesBefore;
  const watchCores = gatewayCores(watchA, watchB);
  for (const stop of stops) stop();
  for (const w of watchers) w.pushes = 0;
  progress.done(
    `${watchCores.toFixed(3)} gateway cores, ${fmtRate((watchPushes * 1000) / (watchB.at - watchA.at))} pushes`,
  );

  // Joining should end before the sale opens: allow 400 joins a second (this machine is shared), plus
  // margin. Whoever joins later is at the back (FIFO); the report says how many made the pre-queue.
  const openAfterS = opts.openAfterS ?? Math.ceil(opts.users / 400) + 30;
  const saleStartsAt = new Date(Date.now() + openAfterS * 1000);
  const eventId = await createRoomEvent('Waiting-room bench', saleStartsAt, opts.tickets, opts.admitPerSecond);

  progress.start(`joining ${group(opts.users)} buyers (sale opens in ${openAfterS} s)`);
  const joinLatency = new Samples(opts.users);
  let joinErrors = 0;
  const joinStart = performance.now();
  await forEachLimit(users.ids, CONNECTIONS * clients.length, async (_id, i) => {
    const t = performance.now();
    const answer = await client(i).graphql(
      `{"query":${JSON.stringify(JOIN)},"variables":{"e":"${eventId}"}}`,
      users.headers[i]!,
    );
    joinLatency.add(performance.now() - t);
    if (answer.status !== 200 || answer.body.includes('"errors"')) joinErrors++;
    if (i % 2000 === 0) progress.update(i / opts.users, `${group(i)} joined`);
  });
  const joinMs = performance.now() - joinStart;
  progress.done(
    `${fmtRate((opts.users * 1000) / joinMs)} joins, p99 ${fmtMs(joinLatency.summary().p99)}, ${joinErrors} errors`,
  );

  for (const w of watchers) subscribe(w, eventId);

  // The quiet wait before the sale: passes held, counters published, nothing to push.
  const waitStart = sampler.mark();
  const untilOpen = saleStartsAt.getTime() - Date.now();
  if (untilOpen > 0) await sleep(untilOpen);
  const waitEnd = sampler.mark();

  // The sale: admitted buyers book as they are admitted.
  progress.start('sale open: admitting and booking');
  const tokens = new AdmissionTokens(sut.jwtSecret);
  const indexOf = new Map(users.ids.map((id, i) => [id, i]));
  const admittedToDecision = new Samples(opts.tickets * 2);
  /** From the bench seeing the admission (it polls Postgres every 50 ms) to the decision. */
  const seenToDecision = new Samples(opts.tickets * 2);
  const reasons: Record<string, number> = {};
  let lastAdmitted = 0;
  let admittedCount = 0;
  let firstAdmittedAt = NaN;
  let lastAdmittedAt = NaN;
  let soldOut = false;
  const inFlight = new Set<Promise<void>>();
  const saleMarkA = sampler.mark();
  const bookOne = async (userId: string, admittedAtMs: number, untilMs: number) => {
    const seenAt = Date.now();
    const i = indexOf.get(userId)!;
    const token = tokens.issue(userId, eventId, new Date(untilMs));
    const body = `{"query":${JSON.stringify(BOOK)},"variables":{"e":"${eventId}","k":"wr-${i}","a":"${token}"}}`;
    // A connection the server closed while idle (keep-alive, 5 s) resets: the same idempotency key
    // is safe to send again, as a client would.
    const send = async (payload: string) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await client(i).graphql(payload, users.headers[i]!);
        } catch (err) {
          if (attempt >= 5) throw err;
        }
      }
    };
    let parsed = await bookingOf(await send(body), 'bookTicket');
    while (parsed?.status === 'QUEUED') {
      await sleep(100);
      parsed = await bookingOf(
        await send(`{"query":${JSON.stringify(BOOKING)},"variables":{"id":"${parsed.id}"}}`),
        'booking',
      );
    }
    admittedToDecision.add(Date.now() - admittedAtMs);
    seenToDecision.add(Date.now() - seenAt);
    const key = parsed ? (parsed.reason ?? parsed.status) : 'ERROR';
    reasons[key] = (reasons[key] ?? 0) + 1;
  };
  const saleStart = Date.now();
  while (!soldOut || inFlight.size > 0) {
    const { rows } = await db.query<{ user_id: string; position: number; at: number; until: number }>(
      `select user_id, position, extract(epoch from admitted_at) * 1000 as at,
              extract(epoch from admitted_until) * 1000 as until
       from queue_passes where event_id = $1 and position > $2 and admitted_at is not null order by position`,
      [eventId, lastAdmitted],
    );
    for (const r of rows) {
      const p = bookOne(r.user_id, Number(r.at), Number(r.until))
        .catch(() => {
          reasons['ERROR'] = (reasons['ERROR'] ?? 0) + 1;
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
      admittedCount++;
      if (Number.isNaN(firstAdmittedAt)) firstAdmittedAt = Number(r.at);
      lastAdmittedAt = Math.max(lastAdmittedAt || 0, Number(r.at));
      lastAdmitted = Math.max(lastAdmitted, r.position);
    }
    const { rows: stock } = await db.query<{ available: number }>(`select available from stock where event_id = $1`, [
      eventId,
    ]);
    soldOut = Number(stock[0]?.available ?? 1) === 0;
    progress.update(
      Math.min(1, admittedCount / opts.tickets),
      `${group(admittedCount)} admitted, ${inFlight.size} booking`,
    );
    if (Date.now() - saleStart > 600_000) throw new Error('the sale did not sell out within 10 minutes');
    await sleep(50);
  }
  const saleMarkB = sampler.mark();
  const { rows: sell } = await db.query<{ sellout: number; start: number }>(
    `select extract(epoch from max(o.created_at)) * 1000 as sellout, extract(epoch from e.sale_starts_at) * 1000 as start
     from orders o join events e on e.id = o.event_id where o.event_id = $1 group by e.sale_starts_at`,
    [eventId],
  );
  const selloutAt = Number(sell[0]!.sellout);
  const selloutMs = selloutAt - Number(sell[0]!.start);
  // Watching buyers still waiting at the sell-out learn CLOSED; give them 5 s to be counted at all.
  await sleep(Math.max(0, selloutAt + 5000 - Date.now()));
  const { rows: waitingAtSellout } = await db.query<{ user_id: string }>(
    `select user_id from queue_passes where event_id = $1 and user_id = any($2::uuid[]) and (admitted_at is null or admitted_at > to_timestamp($3 / 1000.0))`,
    [eventId, users.ids.slice(0, opts.subscribers), selloutAt],
  );
  const waitingSet = new Set(waitingAtSellout.map((r) => indexOf.get(r.user_id)!));
  const closers = watchers.filter((_, i) => waitingSet.has(i));
  const closedInTime = closers.filter((w) => w.closedAt !== null && w.closedAt - selloutAt <= 2000).length;
  const pushes = watchers.reduce((s, w) => s + w.pushes, 0);
  for (const w of watchers) w.socket.close();
  await Promise.all(clients.map((c) => c.close()));
  progress.done(`sold out in ${fmtMs(selloutMs)}`);

  const { rows: inv } = await db.query<{ held: string; available: number; total: number }>(
    `select (select coalesce(sum(quantity), 0) from orders where event_id = $1 and status in ('UNPAID','PAYING','FAILED','SUCCEEDED')) as held,
            s.available, e.tickets_total as total from stock s join events e on e.id = s.event_id where s.event_id = $1`,
    [eventId],
  );
  const held = Number(inv[0]!.held);
  const { rows: pre } = await db.query<{ n: string }>(
    `select count(*) as n from queue_passes q join events e on e.id = q.event_id
     where q.event_id = $1 and q.joined_at < e.sale_starts_at`,
    [eventId],
  );
  const preQueue = Number(pre[0]?.n ?? 0);
  const oversold = held + Number(inv[0]!.available) !== Number(inv[0]!.total) || held > Number(inv[0]!.total);

  const saleSeconds = (saleMarkB.at - saleMarkA.at) / 1000;
  const waitCores = gatewayCores(waitStart, waitEnd);
  const saleCores = gatewayCores(saleMarkA, saleMarkB);
  const decision = admittedToDecision.summary();
  const admissionRate = admittedCount > 1 ? ((admittedCount - 1) * 1000) / (lastAdmittedAt - firstAdmittedAt) : NaN;

  // Side by side: the plain burst (no waiting room), same tickets, its own buyers.
  progress.log('the same sale without a waiting room (the burst)…');
  const burstUsers = Math.min(opts.users, 50_000);
  const plain = await runOnce(
    {
      ...ctx,
      params: { ...ctx.params, users: burstUsers, tickets: opts.tickets, arrival: 'burst', throughput: false },
    },
    1,
  );

  const result = {
    users: opts.users,
    tickets: opts.tickets,
    subscribers: opts.subscribers,
    admitPerSecond: opts.admitPerSecond ?? 'derived',
    preQueue,
    joinsPerSec: round((opts.users * 1000) / joinMs, 0),
    joinP99Ms: round(joinLatency.summary().p99, 1),
    joinErrors,
    selloutMs: round(selloutMs, 0),
    admitted: admittedCount,
    admissionRatePerSec: round(admissionRate, 0),
    admittedToDecisionP50Ms: round(decision.p50, 1),
    admittedToDecisionP99Ms: round(decision.p99, 1),
    seenToDecisionP50Ms: round(seenToDecision.summary().p50, 1),
    seenToDecisionP99Ms: round(seenToDecision.summary().p99, 1),
    reasons,
    closedWithin2sShare: round(closers.length ? closedInTime / closers.length : NaN, 4),
    closedWatchers: closers.length,
    pushesPerWatcher: round(pushes / Math.max(1, watchers.length), 1),
    gatewayCoresWaiting: round(waitCores, 3),
    gatewayCoresDuringSale: round(saleCores, 3),
    gatewayCoresWatching: round(watchCores, 3),
    watchPushesPerSec: round((watchPushes * 1000) / (watchB.at - watchA.at), 0),
    gatewayCoresIdle: round(idleCores, 3),
    gatewayCoresPer100kWatchers: round(
      (Math.max(0, watchCores - idleCores) * 100_000) / Math.max(1, opts.subscribers),
      2,
    ),
    saleSeconds: round(saleSeconds, 1),
    oversold,
    plainBurst: {
      users: burstUsers,
      selloutMs: round(plain.burst?.selloutMs ?? NaN, 0),
      decisionP50Ms: round(plain.burst?.decision.p50 ?? NaN, 1),
      decisionP99Ms: round(plain.burst?.decision.p99 ?? NaN, 1),
      oversold: plain.burst?.invariants.oversold ?? null,
    },
  };
  console.log(
    table([
      ['waiting room', 'value'],
      [
        'buyers joined (pre-queue)',
        `${group(opts.users)}, ${group(preQueue)} before the start (${group(joinErrors)} errors, ${fmtRate(result.joinsPerSec!)} joins)`,
      ],
      ['tickets', group(opts.tickets)],
      ['time to sell out', fmtMs(selloutMs)],
      ['admission rate', `${fmtRate(admissionRate)} (${result.admitPerSecond})`],
      ['admitted → decision p50 / p99', `${fmtMs(decision.p50)} / ${fmtMs(decision.p99)}`],
      ['watching buyers told CLOSED within 2 s', `${fmtPct(result.closedWithin2sShare ?? NaN)} of ${closers.length}`],
      [
        'bench saw admission → decision p50 / p99',
        `${fmtMs(seenToDecision.summary().p50)} / ${fmtMs(seenToDecision.summary().p99)}`,
      ],
      [
        'gateway cores: idle / moving queue / pre-sale wait / sale',
        `${idleCores.toFixed(3)} / ${watchCores.toFixed(3)} / ${waitCores.toFixed(3)} / ${saleCores.toFixed(3)} (${opts.subscribers} watchers)`,
      ],
      ['gateway cores per 100k watching buyers (above idle)', String(result.gatewayCoresPer100kWatchers)],
      ['oversold', String(oversold)],
      ['no waiting room: burst sell-out', `${fmtMs(plain.burst?.selloutMs ?? NaN)} (${group(burstUsers)} buyers)`],
      [
        'no waiting room: decision p50 / p99',
        `${fmtMs(plain.burst?.decision.p50 ?? NaN)} / ${fmtMs(plain.burst?.decision.p99 ?? NaN)}`,
      ],
    ]),
  );
  return result;
}

async function bookingOf(
  answer: { status: number; body: string },
  field: 'bookTicket' | 'booking',
): Promise<{ id: string; status: string; reason: string | null } | null> {
  if (answer.status !== 200) return null;
  try {
    const parsed = JSON.parse(answer.body) as {
      data?: Record<string, { id: string; status: string; reason: string | null }>;
    };
    return parsed.data?.[field] ?? null;
  } catch {
    return null;
  }
}
