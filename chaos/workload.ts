import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { AccessTokens } from '../src/services/auth/access-tokens.js';
import { UserRole } from '../src/entities/user.entity.js';
import { BOOK, CANCEL, graphql, PAY, recorded, SIMULATE } from './client.js';
import type { Attempt, History } from './history.js';
import { REFUSALS } from './invariants.js';
import type { Rng } from './rng.js';

/**
 * The seeded sale: an admin creates one or two small events, buyers arrive in a burst and a tail
 * (the tail buys back tickets that expired holds return), book with an idempotency key and retry
 * with the same key on QUEUED, UNAVAILABLE or no answer, as careful clients do; then each pays,
 * fails a payment, abandons the hold or cancels.
 */
export interface SaleEvent {
  id: string;
  total: number;
  maxPerUser: number;
}

type Action = 'pay' | 'fail' | 'abandon' | 'cancel';

interface BuyerPlan {
  arrivalMs: number;
  event: number;
  quantities: number[];
  action: Action;
  thinkMs: number;
}

export interface Buyer {
  index: number;
  userId: string;
  token: string;
  plan: BuyerPlan;
}

export interface Sale {
  events: SaleEvent[];
  buyers: Buyer[];
}

/** How long a careful client keeps retrying one call before it gives up. */
const CLIENT_PATIENCE_MS = 120_000;
/** Codes a careful client retries with the same arguments; anything else is an answer. */
const RETRYABLE = new Set(['UNAVAILABLE', 'RATE_LIMITED', 'INTERNAL_SERVER_ERROR']);

export async function prepareSale(
  db: pg.Pool,
  jwtSecret: string,
  gateway: string,
  rng: Rng,
  buyers: number,
): Promise<Sale> {
  const tokens = new AccessTokens(jwtSecret, 3600);
  const tag = randomBytes(3).toString('hex');
  const user = async (role: UserRole, i: number) => {
    const id = randomUUID();
    const email = `chaos-${tag}-${i}@example.test`;
    await db.query(`insert into users (id, email, name, password_hash, role) values ($1, $2, 'Chaos', 'x', $3)`, [
      id,
      email,
      role,
    ]);
    return { id, token: await tokens.issue({ id, email, role, tokenVersion: 0 }) };
  };
  const admin = await user(UserRole.ADMIN, -1);
  const events: SaleEvent[] = [];
  for (let e = 0, count = rng.int(1, 2); e < count; e++) {
    const total = rng.int(30, 60);
    const input = {
      title: `Chaos ${e}`,
      description: 'A sale under faults.',
      venue: 'Chaos Hall',
      startsAt: new Date(Date.now() + 48 * 3600_000).toISOString(),
      saleStartsAt: new Date(Date.now() - 3600_000).toISOString(),
      price: 5000,
      currency: 'USD',
      ticketsTotal: total,
      maxPerUser: 2,
    };
    const answer = await graphql(
      gateway,
      admin.token,
      'mutation C($i: CreateEventInput!) { createEvent(input: $i) { id } }',
      {
        i: input,
      },
    );
    const created = answer.data?.['createEvent'] as { id: string } | undefined;
    if (!created) throw new Error(`createEvent failed: ${answer.code}`);
    events.push({ id: created.id, total, maxPerUser: 2 });
  }
  const list: Buyer[] = [];
  for (let i = 0; i < buyers; i++) {
    const burst = rng.chance(0.6);
    const plan: BuyerPlan = {
      arrivalMs: burst ? rng.int(0, 3000) : rng.int(3000, 30_000),
      event: rng.int(0, events.length - 1),
      // A fifth of the buyers come back for more, so the per-buyer limit is exercised.
      quantities: rng.chance(0.2) ? [rng.int(1, 2), rng.int(1, 2)] : [rng.int(1, 2)],
      action: rng.pick<Action>({ pay: 50, fail: 15, abandon: 20, cancel: 15 }),
      thinkMs: rng.int(300, 4000),
    };
    const u = await user(UserRole.USER, i);
    list.push({ index: i, userId: u.id, token: u.token, plan });
  }
  return { events, buyers: list };
}

/** Runs every buyer to the end of their plan; resolves when the last one is done. */
export async function runBuyers(sale: Sale, gateways: string[], history: History, tag: string): Promise<void> {
  await Promise.all(sale.buyers.map((b) => runBuyer(b, sale, gateways, history, tag)));
}

async function runBuyer(b: Buyer, sale: Sale, gateways: string[], history: History, tag: string): Promise<void> {
  await sleep(b.plan.arrivalMs);
  const event = sale.events[b.plan.event]!;
  for (const [n, quantity] of b.plan.quantities.entries()) {
    const attempt: Attempt = {
      buyer: b.index,
      userId: b.userId,
      eventId: event.id,
      key: `${tag}-${b.index}-${n}`,
      quantity,
      firstInvokedAt: Date.now(),
    };
    history.attempts.push(attempt);
    const orderId = await book(b, attempt, gateways, history);
    if (orderId) {
      await sleep(b.plan.thinkMs);
      await act(b, orderId, gateways, history);
    }
  }
}

/** Books until decided or out of patience; the order id when RESERVED. */
async function book(b: Buyer, attempt: Attempt, gateways: string[], history: History): Promise<string | null> {
  const vars = { e: attempt.eventId, q: attempt.quantity, k: attempt.key };
  let queued = false;
  for (let tries = 0; Date.now() - attempt.firstInvokedAt < CLIENT_PATIENCE_MS; tries++) {
    const gateway = gateways[(b.index + tries) % gateways.length]!;
    const { entry } = await recorded(
      history,
      { buyer: b.index, op: 'bookTicket', subject: attempt.key, gateway },
      b.token,
      BOOK,
      vars,
    );
    const status = entry.booking?.status;
    const reason = entry.booking?.reason ?? '';
    if (status === 'QUEUED') queued = true;
    if (status === 'REJECTED' && REFUSALS.has(reason)) {
      // A refusal of this request, not a decision: RATE_LIMITED is tried again, the others are final for the client.
      if (reason !== 'RATE_LIMITED') {
        attempt.onlyRefused = !queued;
        return null;
      }
    } else if (status === 'RESERVED' || status === 'REJECTED') {
      attempt.decidedAt = entry.answeredAt;
      return entry.booking?.orderId ?? null;
    }
    if (entry.outcome === 'fail' && !RETRYABLE.has(entry.code ?? '')) return null;
    await sleep(status === 'QUEUED' ? 300 : backoff(tries));
  }
  return null;
}

async function act(b: Buyer, orderId: string, gateways: string[], history: History): Promise<void> {
  const call = (op: 'payOrder' | 'simulatePayment' | 'cancelOrder', query: string, vars: Record<string, unknown>) =>
    retrying(b, gateways, history, op, orderId, query, vars);
  switch (b.plan.action) {
    case 'pay':
    case 'fail': {
      if (!(await call('payOrder', PAY, { o: orderId }))) return;
      const outcome = b.plan.action === 'pay' ? 'SUCCEED' : 'FAIL';
      const paidAt = await call('simulatePayment', SIMULATE, { o: orderId, r: outcome });
      if (paidAt && outcome === 'SUCCEED') history.payments.push({ orderId, paidAt });
      return;
    }
    case 'cancel':
      await call('cancelOrder', CANCEL, { o: orderId });
      return;
    case 'abandon':
      return;
  }
}

/** Retries one order mutation on retryable failures; the time of the ok answer, or null. */
async function retrying(
  b: Buyer,
  gateways: string[],
  history: History,
  op: 'payOrder' | 'simulatePayment' | 'cancelOrder',
  orderId: string,
  query: string,
  vars: Record<string, unknown>,
): Promise<number | null> {
  const start = Date.now();
  for (let tries = 0; Date.now() - start < CLIENT_PATIENCE_MS; tries++) {
    const gateway = gateways[(b.index + tries) % gateways.length]!;
    const { entry } = await recorded(history, { buyer: b.index, op, subject: orderId, gateway }, b.token, query, vars);
    if (entry.outcome === 'ok') return entry.answeredAt;
    if (entry.outcome === 'fail' && !RETRYABLE.has(entry.code ?? '')) return null;
    await sleep(backoff(tries));
  }
  return null;
}

function backoff(tries: number): number {
  return Math.min(2000, 200 * 2 ** tries) * (0.5 + Math.random());
}
