import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PayOrderDocument } from './generated/graphql.js';
import { ADMIN_EMAIL, createBuyers, createEvent, signUp } from './support/fixtures.js';
import { bookOrder, orderReaches, orderStatus, sql } from './support/payment-fixtures.js';
import { eventually, gqlOk, startTestSystem, type TestSystem } from './support/system.js';
import { startStripeStandIn, type StripeStandIn } from './support/stripe-stand-in.js';

/**
 * A PAYING order whose row another transaction holds (a webhook settling it, a stuck session)
 * must not hold up the end of other holds, on either expiry path: the delayed expiry job, and the
 * sweep that catches lost jobs. The lock timeout is set far beyond these tests, so a path that
 * waits for the row is stuck for the whole test instead of 2 s per order, as chaos runs saw it.
 */
const WEBHOOK_SECRET = 'whsec_test';
const HOLD_SECONDS = 3;
const EXPIRY_WAIT_MS = (HOLD_SECONDS + 10) * 1000;
/** The expiry worker tries a PAYING order it could not cancel again after 15 s (PENDING_RETRY_MS). */
const PENDING_RETRY_WAIT_MS = 30_000;
let stripe: StripeStandIn;
let sys: TestSystem;
let admin: string;

beforeAll(async () => {
  stripe = await startStripeStandIn({ webhookSecret: WEBHOOK_SECRET });
  sys = await startTestSystem({
    PAYMENT_PROVIDER: 'stripe',
    STRIPE_API_URL: stripe.url,
    STRIPE_SECRET_KEY: 'sk_test_x',
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    BOOKING_WAIT_MS: '5000',
    BOOKING_RATE_PER_SECOND: '100',
    HOLD_SECONDS: String(HOLD_SECONDS),
    // This instance's sweeps stay out of the way; the sweep test starts a worker with a fast one.
    SWEEP_INTERVAL_MS: '600000',
    PG_LOCK_TIMEOUT_MS: '300000',
    PG_STATEMENT_TIMEOUT_MS: '300000',
  });
  admin = (await signUp(sys, ADMIN_EMAIL)).token;
});
afterAll(async () => {
  await sys?.stop();
  await stripe?.stop();
});

/** Another session holding the order's row in an open transaction until `release`. */
async function holdRow(orderId: string): Promise<{ release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: sys.app.infra.config.databaseUrl });
  await client.connect();
  await client.query('begin');
  await client.query('select id from orders where id = $1 for update', [orderId]);
  return {
    async release() {
      await client.query('rollback');
      await client.end();
    },
  };
}

async function holdOver(orderId: string): Promise<void> {
  await eventually(
    async () => {
      const [row] = await sql<{ over: boolean }>(
        sys.app,
        `select now() > expires_at as over from orders where id = ?`,
        [orderId],
      );
      return row?.over ? true : undefined;
    },
    EXPIRY_WAIT_MS,
    `hold of ${orderId} over`,
  );
}

/** Drops every delayed expiry job once the one just queued is in the stream: a lost job. */
async function loseExpiryJobs(): Promise<void> {
  const { jsm, names } = sys.app.infra.nats;
  await eventually(async () => ((await jsm.streams.info(names.streams.expiry)).state.messages > 0 ? true : undefined));
  await jsm.streams.purge(names.streams.expiry);
}

async function payingOrder(eventId: string, token: string) {
  const orderId = await bookOrder(sys, token, eventId);
  const { payOrder } = await gqlOk(sys.url, PayOrderDocument, { orderId }, token);
  return { orderId, intentId: payOrder.paymentIntentId };
}

describe('a PAYING order whose row another transaction holds', () => {
  it('does not keep the delayed expiry job of another hold waiting', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 5, maxPerUser: 1, price: 2500 });
    const [payer, other] = await createBuyers(sys, 2);
    const paying = await payingOrder(event.id, payer!.token);
    const lock = await holdRow(paying.orderId);
    try {
      await holdOver(paying.orderId); // its job is due now, and meets the locked row
      const unpaid = await bookOrder(sys, other!.token, event.id);
      await orderReaches(sys.app, unpaid, 'CANCELLED', EXPIRY_WAIT_MS);
      expect(await orderStatus(sys.app, paying.orderId)).toBe('PAYING'); // left to the row's holder
    } finally {
      await lock.release();
    }
    // Tried again later, it ends too.
    await orderReaches(sys.app, paying.orderId, 'CANCELLED', PENDING_RETRY_WAIT_MS);
  });

  it('does not keep the sweep of unpaid holds waiting', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 5, maxPerUser: 1, price: 2500 });
    const [payer, other] = await createBuyers(sys, 2);
    const paying = await payingOrder(event.id, payer!.token);
    await loseExpiryJobs();
    // The card went through just before the end (its webhook not in yet): the sweep finds the
    // money at Stripe and must settle the order, which waits for the row (it is never skipped).
    stripe.succeed(paying.intentId);
    const lock = await holdRow(paying.orderId);
    const worker = await sys.startInstance({ ROLE: 'worker', SWEEP_INTERVAL_MS: '300' });
    try {
      await holdOver(paying.orderId);
      const unpaid = await bookOrder(sys, other!.token, event.id);
      await loseExpiryJobs(); // only the sweep can end it
      await orderReaches(sys.app, unpaid, 'CANCELLED', EXPIRY_WAIT_MS);
      expect(await orderStatus(sys.app, paying.orderId)).toBe('PAYING');
    } finally {
      await lock.release();
    }
    await orderReaches(sys.app, paying.orderId, 'SUCCEEDED', EXPIRY_WAIT_MS);
    await worker.stop();
  });
});
