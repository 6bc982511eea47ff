import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { StockGate } from '../src/infra/stock-gate.js';
import { HOLD_SECONDS } from './app-processes.js';
import type { History } from './history.js';
import { decisionAnswers, longestStall, percentile, seconds } from './measures.js';
import type { Sale } from './workload.js';

/** The design's invariants, checked once the sale has settled; one result line each. */
export interface Check {
  name: string;
  pass: boolean;
  detail: string;
}

export interface Limits {
  /** Longest acceptable stall; undefined: measured only (a dependency that is down stops sales). */
  maxStallMs?: number;
  /** Longest acceptable payment → inbox delay; undefined: measured only. */
  maxNoticeMs?: number;
}

export interface Observed {
  /** Longest an UNPAID/FAILED order was seen past its expiresAt by the sampler during the run. */
  maxOverdueMs: number;
  end: number;
  /** Times with no worker process running (see FaultContext.workerless). */
  workerless: readonly { from: number; to: number }[];
}

/** How far past expiresAt a hold may be seen: a few sweeps, and a restarted dependency's catch-up. */
export const HOLD_SLACK_MS = 15_000;
const LIVE = `('UNPAID', 'PAYING', 'FAILED', 'SUCCEEDED')`;
/**
 * Rejections that refuse one request rather than decide the attempt (README, "One decision per
 * key"): the gateway answers them without recording anything, so the key may be decided later.
 */
export const REFUSALS = new Set(['NOT_ON_SALE', 'INVALID_QUANTITY', 'RATE_LIMITED', 'NOT_ADMITTED']);

export async function checkInvariants(
  db: pg.Pool,
  gate: StockGate,
  sale: Sale,
  history: History,
  observed: Observed,
  limits: Limits,
): Promise<Check[]> {
  const checks: Check[] = [];
  const add = (name: string, failures: string[], ok: string) =>
    checks.push({ name, pass: failures.length === 0, detail: failures.length ? failures.slice(0, 3).join('; ') : ok });

  const oversold: string[] = [];
  const perBuyer: string[] = [];
  for (const e of sale.events) {
    const pgState = await postgresStock(db, e.id);
    if (pgState.held + pgState.available !== e.total || pgState.available < 0) {
      oversold.push(`event ${e.id.slice(0, 8)}: held ${pgState.held} + available ${pgState.available} ≠ ${e.total}`);
    }
    for (const [user, held] of pgState.heldByUser) {
      if (held > e.maxPerUser) perBuyer.push(`buyer ${user.slice(0, 8)} holds ${held} > ${e.maxPerUser}`);
    }
  }
  add('never oversold', oversold, 'held + available = total for every event');
  add('at most maxPerUser per buyer', perBuyer, 'every buyer within the limit');
  add('Redis equals Postgres', await redisAgrees(db, gate, sale), 'stock and per-buyer counts agree');

  const rows = await db.query<{
    user_id: string;
    idempotency_key: string;
    id: string;
    status: string;
    order_id: string | null;
    requested_at: Date;
    decided_at: Date;
  }>(`select user_id, idempotency_key, id, status, order_id, requested_at, decided_at from bookings`);
  const byKey = new Map(rows.rows.map((r) => [`${r.user_id}/${r.idempotency_key}`, r]));
  const userOf = new Map(sale.buyers.map((b) => [b.index, b.userId]));
  const disagree: string[] = [];
  const twoDecisions: string[] = [];
  const seen = new Map<string, Set<string>>();
  for (const c of history.calls) {
    if (c.op !== 'bookTicket' || !c.booking || c.booking.status === 'QUEUED') continue;
    // A refusal answers the request, not the attempt: nothing is recorded and the key stays usable.
    if (c.booking.status === 'REJECTED' && REFUSALS.has(c.booking.reason ?? '')) continue;
    const row = byKey.get(`${userOf.get(c.buyer)}/${c.subject}`);
    const decisions = seen.get(c.subject) ?? new Set();
    decisions.add(`${c.booking.status}:${c.booking.id}`);
    seen.set(c.subject, decisions);
    if (c.booking.status === 'RESERVED' && (row?.status !== 'RESERVED' || row.order_id !== c.booking.orderId)) {
      disagree.push(`${c.subject} answered RESERVED, Postgres ${row?.status ?? 'no booking'}`);
    }
    if (c.booking.status === 'REJECTED' && row?.status === 'RESERVED') {
      disagree.push(`${c.subject} answered REJECTED ${c.booking.reason}, Postgres RESERVED`);
    }
  }
  // Postgres's decision counts too: a key answered REJECTED and later reserved has two.
  for (const a of history.attempts) {
    const row = byKey.get(`${a.userId}/${a.key}`);
    if (row && seen.has(a.key)) seen.get(a.key)!.add(`${row.status}:${row.id}`);
  }
  const pgTimes = (key: string) => {
    const a = history.attempts.find((x) => x.key === key);
    const row = a && byKey.get(`${a.userId}/${a.key}`);
    return row
      ? `; Postgres ${row.status} requested ${history.t(row.requested_at.getTime())}, decided ${history.t(row.decided_at.getTime())}`
      : '; no Postgres row';
  };
  for (const [key, decisions] of seen)
    if (decisions.size > 1)
      twoDecisions.push(`${key}: ${[...decisions].join(' and ')} [${history.timeline(key)}${pgTimes(key)}]`);
  add('answers agree with Postgres', disagree, `${seen.size} decided keys match`);
  add('one decision per key', twoDecisions, 'no key answered two ways');

  // An attempt only ever refused was never queued: there is nothing to decide.
  const undecided = history.attempts.filter((a) => a.decidedAt === undefined && !a.onlyRefused);
  add(
    'every attempt decided',
    undecided.map((a) => `${a.key} never decided`),
    `${history.attempts.length} attempts decided`,
  );

  add('one notice and one payment per paid order', await noticesAndPayments(db), 'exactly one of each');

  const holds = await db.query<{ overdue: number; longest: number }>(
    `select count(*) filter (where status in ('UNPAID', 'FAILED') and expires_at < now() - $1 * interval '1 millisecond')::int as overdue,
            coalesce(max(extract(epoch from expires_at - created_at)), 0)::float as longest from orders`,
    [HOLD_SLACK_MS],
  );
  const h = holds.rows[0]!;
  const holdFailures = [];
  if (observed.maxOverdueMs > HOLD_SLACK_MS)
    holdFailures.push(`a hold was seen ${seconds(observed.maxOverdueMs)} past its end`);
  if (h.overdue > 0) holdFailures.push(`${h.overdue} holds still open past their end`);
  if (h.longest > HOLD_SECONDS + 2)
    holdFailures.push(`a hold of ${h.longest.toFixed(0)} s (HOLD_SECONDS ${HOLD_SECONDS})`);
  add('no hold past its end', holdFailures, `latest seen ${seconds(observed.maxOverdueMs)} past expiresAt`);

  const internal = history.calls.filter((c) => c.code === 'INTERNAL_SERVER_ERROR');
  add(
    'no INTERNAL_SERVER_ERROR',
    internal.length ? [`${internal.length} answers (${[...new Set(internal.map((c) => c.op))].join(', ')})`] : [],
    `${history.calls.length} answers`,
  );

  const decisions = [...decisionAnswers(history.calls), ...(await decidedAt(db))];
  const stall = longestStall(history.attempts, decisions, observed.end);
  checks.push(measured('stall', stall, limits.maxStallMs));
  const delays = await noticeDelays(db, history);
  // The system's part of each delay: time with no worker at all is the orchestrator's.
  const working = delays.map((d) => d.ms - overlap(d.from, d.from + d.ms, observed.workerless));
  const worst = working.length ? Math.max(...working) : NaN;
  const notice = measured('notice delay', worst, limits.maxNoticeMs);
  notice.detail += ` (p50 ${seconds(percentile(working, 50))}, ${delays.length} payments`;
  if (observed.workerless.length)
    notice.detail += `; with no worker running excluded, ${seconds(Math.max(0, ...delays.map((d) => d.ms)))} in all`;
  notice.detail += ')';
  checks.push(notice);
  return checks;
}

function measured(name: string, ms: number, limit: number | undefined): Check {
  const pass = limit === undefined || !(ms > limit);
  return { name, pass, detail: `${seconds(ms)}${limit === undefined ? ' (measured)' : ` (limit ${seconds(limit)})`}` };
}

async function postgresStock(db: pg.Pool, eventId: string) {
  const stock = await db.query<{ available: number }>(`select available from stock where event_id = $1`, [eventId]);
  const holders = await db.query<{ user_id: string; held: string }>(
    `select user_id, sum(quantity) as held from orders where event_id = $1 and status in ${LIVE} group by user_id`,
    [eventId],
  );
  const heldByUser = new Map(holders.rows.map((r) => [r.user_id, Number(r.held)]));
  return {
    available: Number(stock.rows[0]?.available),
    held: [...heldByUser.values()].reduce((a, b) => a + b, 0),
    heldByUser,
  };
}

/** Redis is repaired by the sweeps, so it is given a few sweep intervals to agree. */
async function redisAgrees(db: pg.Pool, gate: StockGate, sale: Sale): Promise<string[]> {
  let failures: string[] = [];
  for (let round = 0; round < 15; round++) {
    failures = [];
    for (const e of sale.events) {
      const pgState = await postgresStock(db, e.id);
      const redis = await gate.inspect(e.id);
      if (redis.stock !== pgState.available || redis.inflightQty !== 0) {
        failures.push(
          `event ${e.id.slice(0, 8)}: Redis stock ${redis.stock} (in flight ${redis.inflightQty}), Postgres ${pgState.available}`,
        );
      }
      const users = new Set([...pgState.heldByUser.keys(), ...Object.keys(redis.held)]);
      const wrong = [...users].filter((u) => (pgState.heldByUser.get(u) ?? 0) !== (redis.held[u] ?? 0));
      if (wrong.length) {
        const u = wrong[0]!;
        failures.push(
          `${wrong.length} buyers differ, e.g. ${u.slice(0, 8)}: Redis ${redis.held[u] ?? 0}, Postgres ${pgState.heldByUser.get(u) ?? 0}`,
        );
      }
    }
    if (failures.length === 0) return [];
    await sleep(1000);
  }
  return failures;
}

async function noticesAndPayments(db: pg.Pool): Promise<string[]> {
  const res = await db.query<{ id: string; notices: number; succeeded: number }>(
    `select o.id,
            (select count(*) from notifications n where n.order_id = o.id and n.kind = 'ORDER_SUCCEEDED')::int as notices,
            (select count(*) from payments p where p.order_id = o.id and p.status = 'succeeded')::int as succeeded
       from orders o where o.status = 'SUCCEEDED'`,
  );
  return res.rows
    .filter((r) => r.notices !== 1 || r.succeeded !== 1)
    .map((r) => `order ${r.id.slice(0, 8)}: ${r.notices} notices, ${r.succeeded} succeeded payments`);
}

async function decidedAt(db: pg.Pool): Promise<number[]> {
  const res = await db.query<{ at: Date }>(`select decided_at as at from bookings`);
  return res.rows.map((r) => r.at.getTime());
}

function overlap(from: number, to: number, windows: readonly { from: number; to: number }[]): number {
  return windows.reduce((sum, w) => sum + Math.max(0, Math.min(to, w.to) - Math.max(from, w.from)), 0);
}

/** Payment (the buyer's simulatePayment answer) → its ORDER_SUCCEEDED inbox row, per paid order. */
async function noticeDelays(db: pg.Pool, history: History): Promise<{ from: number; ms: number }[]> {
  const res = await db.query<{ order_id: string; at: Date }>(
    `select order_id, min(created_at) as at from notifications where kind = 'ORDER_SUCCEEDED' group by order_id`,
  );
  const noticeAt = new Map(res.rows.map((r) => [r.order_id, r.at.getTime()]));
  return history.payments.flatMap((p) => {
    const at = noticeAt.get(p.orderId);
    return at === undefined ? [] : [{ from: p.paidAt, ms: Math.max(0, at - p.paidAt) }];
  });
}

/** Waits until no hold is open and every paid order has its notice, or the deadline passes. */
export async function waitSettled(db: pg.Pool, deadlineMs: number): Promise<boolean> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    try {
      const res = await db.query<{ open: number; unnoticed: number }>(
        `select (select count(*) from orders where status in ('UNPAID', 'PAYING', 'FAILED'))::int as open,
                (select count(*) from orders o where o.status = 'SUCCEEDED' and not exists
                   (select 1 from notifications n where n.order_id = o.id and n.kind = 'ORDER_SUCCEEDED'))::int as unnoticed`,
      );
      if (res.rows[0]!.open === 0 && res.rows[0]!.unnoticed === 0) return true;
    } catch {
      // Postgres restarting
    }
    await sleep(500);
  }
  return false;
}
