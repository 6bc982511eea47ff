import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelOrderDocument, PayOrderDocument, SimulatePaymentDocument } from './generated/graphql.js';
import { ADMIN_EMAIL, createBuyers, createEvent, signUp, stockState } from './support/fixtures.js';
import {
  book,
  bookOrder,
  eventOutcome,
  notificationRequests,
  orderReaches,
  orderStatus,
  paymentOf,
  sql,
} from './support/payment-fixtures.js';
import { errorCode, eventually, gql, gqlOk, startTestSystem, type TestSystem } from './support/system.js';
import { startStripeStandIn, type StripeStandIn } from './support/stripe-stand-in.js';

/**
 * The stripe driver end to end: the real Stripe SDK talks to a local stand-in of Stripe's API, and
 * the stand-in sends webhooks signed as Stripe signs them to the app's route.
 */
const WEBHOOK_SECRET = 'whsec_test';
const HOLD_SECONDS = 5;
const EXPIRY_WAIT_MS = (HOLD_SECONDS + 6) * 1000;
let stripe: StripeStandIn;
let sys: TestSystem;
let admin: string;
let webhookUrl: string;

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
    SWEEP_INTERVAL_MS: '60000',
  });
  admin = (await signUp(sys, ADMIN_EMAIL)).token;
  webhookUrl = `${sys.app.url}/webhooks/stripe`;
});
afterAll(async () => {
  await sys?.stop();
  await stripe?.stop();
});

async function payingOrder(opts: { ticketsTotal?: number } = {}) {
  const event = await createEvent(sys, admin, { ticketsTotal: opts.ticketsTotal ?? 5, maxPerUser: 1, price: 2500 });
  const [buyer] = await createBuyers(sys, 1);
  const orderId = await bookOrder(sys, buyer!.token, event.id);
  const { payOrder } = await gqlOk(sys.url, PayOrderDocument, { orderId }, buyer!.token);
  return { event, buyer: buyer, orderId, session: payOrder };
}

/** The stand-in's webhook, as Stripe delivers it; the app must answer 200. */
async function deliver(type: string, intentId: string): Promise<string> {
  const { status, eventId } = await stripe.sendWebhook(webhookUrl, type, intentId);
  expect(status).toBe(200);
  return eventId;
}

describe('with the stripe driver', () => {
  it('creates a PaymentIntent at Stripe and settles the order from the signed succeeded webhook', async () => {
    const { orderId, session } = await payingOrder();
    expect(session.provider).toBe('stripe');
    expect(session.order.status).toBe('PAYING');
    const intent = stripe.intent(session.paymentIntentId);
    expect(intent).toMatchObject({ amount: 2500, currency: 'usd', metadata: { orderId } });
    expect(session.clientSecret).toBe(intent.client_secret);

    stripe.succeed(session.paymentIntentId);
    const eventId = await deliver('payment_intent.succeeded', session.paymentIntentId);
    expect(await eventOutcome(sys.app, eventId)).toBe('applied: SUCCEEDED');
    expect(await orderStatus(sys.app, orderId)).toBe('SUCCEEDED');
    expect(await notificationRequests(sys.app, orderId, 'ORDER_SUCCEEDED')).toBe(1);
  });

  it('creates one PaymentIntent for many concurrent payOrder calls, all with the key derived from the order', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 5 });
    const [buyer] = await createBuyers(sys, 1);
    const orderId = await bookOrder(sys, buyer!.token, event.id);
    const results = await Promise.all(
      Array.from({ length: 6 }, () => gql(sys.url, PayOrderDocument, { orderId }, buyer!.token)),
    );
    expect(results.map((r) => r.errors ?? [])).toEqual(results.map(() => []));
    const ids = new Set(results.map((r) => r.data?.payOrder.paymentIntentId));
    expect(ids.size).toBe(1);
    expect([...stripe.intents.values()].filter((i) => i.metadata['orderId'] === orderId)).toHaveLength(1);
    const creates = stripe.requests.filter(
      (r) => r.path === '/v1/payment_intents' && (r.body['metadata'] as Record<string, unknown>)['orderId'] === orderId,
    );
    expect(creates.length).toBeGreaterThanOrEqual(1);
    expect(new Set(creates.map((r) => r.idempotencyKey))).toEqual(new Set([`order-${orderId}`]));
  });

  it('refuses simulatePayment: the simulated processor is not active', async () => {
    const { orderId, buyer } = await payingOrder();
    const res = await gql(sys.url, SimulatePaymentDocument, { orderId, outcome: 'SUCCEED' }, buyer!.token);
    expect(errorCode(res)).toBe('FORBIDDEN');
    expect(res.errors![0]!.message).toContain('PAYMENT_PROVIDER=simulated');
  });

  it('takes a declined card to FAILED, then a retry with the same intent to SUCCEEDED', async () => {
    const { orderId, buyer, session } = await payingOrder();
    stripe.fail(session.paymentIntentId);
    await eventOutcome(sys.app, await deliver('payment_intent.payment_failed', session.paymentIntentId));
    expect(await orderStatus(sys.app, orderId)).toBe('FAILED');

    const retry = (await gqlOk(sys.url, PayOrderDocument, { orderId }, buyer!.token)).payOrder;
    expect(retry.paymentIntentId).toBe(session.paymentIntentId);
    expect(retry.order.status).toBe('PAYING');
    stripe.succeed(session.paymentIntentId);
    await eventOutcome(sys.app, await deliver('payment_intent.succeeded', session.paymentIntentId));
    expect(await orderStatus(sys.app, orderId)).toBe('SUCCEEDED');
  });

  it('answers UNAVAILABLE to cancelOrder of a PAYING order while Stripe fails, and changes nothing until it answers', async () => {
    const { orderId, session, buyer, event } = await payingOrder();
    stripe.failNext(3, 500, 'before'); // the first try and the SDK's two retries
    const refused = await gql(sys.url, CancelOrderDocument, { orderId }, buyer!.token);
    expect(errorCode(refused)).toBe('UNAVAILABLE');
    expect(await orderStatus(sys.app, orderId)).toBe('PAYING');
    expect(stripe.intent(session.paymentIntentId).status).not.toBe('canceled');
    expect((await stockState(sys, event.id)).pgAvailable).toBe(4);

    const { cancelOrder } = await gqlOk(sys.url, CancelOrderDocument, { orderId }, buyer!.token);
    expect(cancelOrder.status).toBe('CANCELLED');
    expect(stripe.intent(session.paymentIntentId).status).toBe('canceled');
    expect((await stockState(sys, event.id)).pgAvailable).toBe(5);
  });

  it('sweeps every PAYING order whose hold ended, past one the provider cannot cancel yet', async () => {
    const stuck = await payingOrder();
    const next = await payingOrder();
    // Both delayed expiry jobs are lost, and Stripe is still processing the first card.
    await sys.app.infra.nats.jsm.streams.purge(sys.app.infra.nats.names.streams.expiry);
    stripe.intent(stuck.session.paymentIntentId).status = 'processing';
    const holdsOver = async () => {
      const [row] = await sql<{ over: boolean }>(
        sys.app,
        `select now() > max(expires_at) as over from orders where id in (?, ?)`,
        [stuck.orderId, next.orderId],
      );
      return row?.over ? true : undefined;
    };
    await eventually(holdsOver, EXPIRY_WAIT_MS);

    const result = await sys.app.services.holds.sweepPaying(1); // one order per page
    expect(result.pending).toContain(stuck.orderId);
    expect(await orderStatus(sys.app, stuck.orderId)).toBe('PAYING');
    expect(await orderStatus(sys.app, next.orderId)).toBe('CANCELLED');
    expect(stripe.intent(next.session.paymentIntentId).status).toBe('canceled');
  });

  it('cancels the PaymentIntent of a PAYING order at its hold end, then the order', async () => {
    const { orderId, session, event } = await payingOrder();
    await orderReaches(sys.app, orderId, 'CANCELLED', EXPIRY_WAIT_MS);
    expect(stripe.intent(session.paymentIntentId).status).toBe('canceled');
    expect(
      stripe.requests.some(
        (r) => r.path === `/v1/payment_intents/${session.paymentIntentId}/cancel` && r.status === 200,
      ),
    ).toBe(true);
    await eventually(async () => ((await stockState(sys, event.id)).redis.stock === 5 ? true : undefined));
  });

  it('cancels the still payable intent of a FAILED order whose hold ended, so a late card is refused at Stripe', async () => {
    const { orderId, session } = await payingOrder();
    stripe.fail(session.paymentIntentId);
    await eventOutcome(sys.app, await deliver('payment_intent.payment_failed', session.paymentIntentId));
    await orderReaches(sys.app, orderId, 'CANCELLED', EXPIRY_WAIT_MS);
    await eventually(() => (stripe.intent(session.paymentIntentId).status === 'canceled' ? true : undefined));
    await eventually(async () => ((await paymentOf(sys.app, orderId))?.status === 'canceled' ? true : undefined));
  });

  it('settles a PAYING order at its hold end when Stripe says it was paid, and its late webhook changes nothing', async () => {
    const { orderId, session } = await payingOrder();
    stripe.succeed(session.paymentIntentId); // paid, but the webhook is late
    await orderReaches(sys.app, orderId, 'SUCCEEDED', EXPIRY_WAIT_MS);
    expect(stripe.intent(session.paymentIntentId).status).toBe('succeeded');

    const eventId = await deliver('payment_intent.succeeded', session.paymentIntentId);
    expect(await eventOutcome(sys.app, eventId)).toBe('ignored: order already SUCCEEDED');
    expect(await notificationRequests(sys.app, orderId, 'ORDER_SUCCEEDED')).toBe(1);
  });

  it('refunds at Stripe, once, a payment that succeeds after the hold ended and the ticket was resold', async () => {
    const { orderId, session, event } = await payingOrder({ ticketsTotal: 1 });
    await orderReaches(sys.app, orderId, 'CANCELLED', EXPIRY_WAIT_MS);
    const [next] = await createBuyers(sys, 1);
    await eventually(async () => ((await book(sys, next!.token, event.id)).status === 'RESERVED' ? true : undefined));

    // The charge went through just as the intent was being cancelled.
    stripe.succeed(session.paymentIntentId);
    const first = await deliver('payment_intent.succeeded', session.paymentIntentId);
    expect(await eventOutcome(sys.app, first)).toBe('applied: REFUNDED (paid after cancellation; no tickets left)');
    const refunds = [...stripe.refunds.values()].filter((r) => r.payment_intent === session.paymentIntentId);
    expect(refunds).toHaveLength(1);
    expect(stripe.requests.filter((r) => r.path === '/v1/refunds').map((r) => r.idempotencyKey)).toContain(
      `refund-${orderId}`,
    );
    expect(await paymentOf(sys.app, orderId)).toMatchObject({ status: 'refunded', refund_id: refunds[0]!.id });

    // Stripe then reports the refund; the order is already REFUNDED.
    const refunded = await deliver('charge.refunded', session.paymentIntentId);
    expect(await eventOutcome(sys.app, refunded)).toBe('ignored: order already REFUNDED');
    expect(await notificationRequests(sys.app, orderId, 'ORDER_REFUNDED')).toBe(1);
  });

  it('marks a paid order REFUNDED when it is refunded in the Stripe dashboard', async () => {
    const { orderId, session, event } = await payingOrder();
    stripe.succeed(session.paymentIntentId);
    await eventOutcome(sys.app, await deliver('payment_intent.succeeded', session.paymentIntentId));
    await eventOutcome(sys.app, await deliver('charge.refunded', session.paymentIntentId));
    expect(await orderStatus(sys.app, orderId)).toBe('REFUNDED');
    await eventually(async () => ((await stockState(sys, event.id)).pgAvailable === 5 ? true : undefined));
  });
});
