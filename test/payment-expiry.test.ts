import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CancelOrderDocument,
  NotificationsDocument,
  PayOrderDocument,
  PaymentCountdownDocument,
  SimulatePaymentDocument,
} from './generated/graphql.js';
import { ADMIN_EMAIL, createBuyers, createEvent, signUp, stockState } from './support/fixtures.js';
import {
  book,
  bookOrder,
  eventOutcome,
  notificationRequests,
  orderReaches,
  orderStatus,
  paymentOf,
  sendSignedEvent,
  sql,
  stripeEvent,
} from './support/payment-fixtures.js';
import { eventually, gqlOk, startTestSystem, subscribe, wsClient, type TestSystem } from './support/system.js';

/**
 * Holds that run out, with a 4 s hold. The periodic sweep is kept out of the way (a long interval)
 * so these tests see the delayed expiry job at work; the last one loses the job and starts a
 * worker with a fast sweep to see the safety net.
 */
const HOLD_SECONDS = 4;
let sys: TestSystem;
let admin: string;

beforeAll(async () => {
  sys = await startTestSystem({
    BOOKING_WAIT_MS: '5000',
    BOOKING_RATE_PER_SECOND: '100',
    HOLD_SECONDS: String(HOLD_SECONDS),
    SWEEP_INTERVAL_MS: '60000',
  });
  admin = (await signUp(sys, ADMIN_EMAIL)).token;
});
afterAll(async () => {
  await sys.stop();
});

const EXPIRY_WAIT_MS = (HOLD_SECONDS + 6) * 1000;

async function inboxKinds(token: string, orderId: string): Promise<string[]> {
  const { notifications } = await gqlOk(sys.url, NotificationsDocument, { first: 50 }, token);
  return notifications.edges
    .filter((e) => e.node.orderId === orderId)
    .map((e) => e.node.kind)
    .sort();
}

describe('a hold that runs out', () => {
  it('is cancelled at its end, its ticket goes to the next buyer, and its buyer was reminded then told', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 1, maxPerUser: 1 });
    const [first, second] = await createBuyers(sys, 2);
    const orderId = await bookOrder(sys, first!.token, event.id);
    expect(await book(sys, second!.token, event.id)).toMatchObject({ status: 'REJECTED', reason: 'SOLD_OUT' });

    await orderReaches(sys.app, orderId, 'CANCELLED', EXPIRY_WAIT_MS);
    const [order] = await sql<{ late: boolean }>(
      sys.app,
      `select updated_at >= expires_at as late from orders where id = ?`,
      [orderId],
    );
    expect(order?.late).toBe(true); // not a moment before the hold ended, by Postgres' clock

    const retry = await eventually(async () => {
      const b = await book(sys, second!.token, event.id);
      return b.status === 'RESERVED' ? b : undefined;
    });
    expect(retry.order).not.toBeNull();

    const kinds = await eventually(async () => {
      const k = await inboxKinds(first!.token, orderId);
      return k.length === 2 ? k : undefined;
    });
    expect(kinds).toEqual(['HOLD_EXPIRING', 'ORDER_CANCELLED']);
  });

  it('ends the payment countdown with the final status', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 5 });
    const [buyer] = await createBuyers(sys, 1);
    const orderId = await bookOrder(sys, buyer!.token, event.id);
    const ws = wsClient(sys.wsUrl, buyer!.token);
    const ticks = subscribe(ws, PaymentCountdownDocument, { orderId });
    await ticks.next((m) => m.data?.paymentCountdown.status === 'CANCELLED', EXPIRY_WAIT_MS);
    await eventually(() => (ticks.completed ? true : undefined));
    const seconds = ticks.messages.map((m) => m.data!.paymentCountdown.secondsLeft);
    expect(seconds[0]).toBeLessThanOrEqual(HOLD_SECONDS);
    expect(seconds).toEqual([...seconds].sort((a, b) => b - a));
    expect(seconds.at(-1)).toBe(0);
    await ws.dispose();
  });
});

describe('money that arrives after the hold ended', () => {
  it('is refunded when the ticket was sold again meanwhile', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 1, maxPerUser: 1 });
    const [late, next] = await createBuyers(sys, 2);
    const orderId = await bookOrder(sys, late!.token, event.id);
    const { payOrder } = await gqlOk(sys.url, PayOrderDocument, { orderId }, late!.token);

    // A PAYING order at its end: the intent is cancelled at the provider, then the order.
    await orderReaches(sys.app, orderId, 'CANCELLED', EXPIRY_WAIT_MS);
    expect(await paymentOf(sys.app, orderId)).toMatchObject({ status: 'canceled' });
    const resold = await eventually(async () => {
      const b = await book(sys, next!.token, event.id);
      return b.status === 'RESERVED' ? b : undefined;
    });

    // The buyer's bank had already said yes: the success arrives now.
    const succeeded = stripeEvent('payment_intent.succeeded', { id: payOrder.paymentIntentId, orderId });
    expect((await sendSignedEvent(sys.app, succeeded)).status).toBe(200);
    expect(await eventOutcome(sys.app, succeeded.id)).toBe(
      'applied: REFUNDED (paid after cancellation; no tickets left)',
    );
    expect(await orderStatus(sys.app, orderId)).toBe('REFUNDED');
    const payment = await paymentOf(sys.app, orderId);
    expect(payment).toMatchObject({ status: 'refunded' });
    expect(payment?.refund_id).toMatch(/^re_sim_/);
    expect(await notificationRequests(sys.app, orderId, 'ORDER_REFUNDED')).toBe(1);

    expect(await orderStatus(sys.app, resold.order!.id)).toBe('UNPAID');
    const state = await stockState(sys, event.id);
    expect(state).toMatchObject({ pgAvailable: 0, held: 1, heldByUser: { [next!.id]: 1 } });
    expect(state.redis).toMatchObject({ stock: 0, inflightQty: 0 });
    expect(state.redis.held[late!.id] ?? 0).toBe(0);
  });

  it('settles the order when a ticket is still free, taking it again through the gate', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 2, maxPerUser: 2 });
    const [buyer] = await createBuyers(sys, 1);
    const orderId = await bookOrder(sys, buyer!.token, event.id);
    const { payOrder } = await gqlOk(sys.url, PayOrderDocument, { orderId }, buyer!.token);
    await orderReaches(sys.app, orderId, 'CANCELLED', EXPIRY_WAIT_MS);
    await eventually(async () => ((await stockState(sys, event.id)).redis.stock === 2 ? true : undefined));

    const succeeded = stripeEvent('payment_intent.succeeded', { id: payOrder.paymentIntentId, orderId });
    await sendSignedEvent(sys.app, succeeded);
    expect(await eventOutcome(sys.app, succeeded.id)).toBe(
      'applied: SUCCEEDED after cancellation (tickets taken again)',
    );
    expect(await orderStatus(sys.app, orderId)).toBe('SUCCEEDED');
    expect(await notificationRequests(sys.app, orderId, 'ORDER_SUCCEEDED')).toBe(1);
    const state = await eventually(async () => {
      const s = await stockState(sys, event.id);
      return s.redis.stock === 1 ? s : undefined;
    });
    expect(state).toMatchObject({ pgAvailable: 1, held: 1, heldByUser: { [buyer!.id]: 1 } });
    expect(state.redis).toMatchObject({ inflightQty: 0, held: { [buyer!.id]: 1 } });

    // Refunded from the dashboard: the same order's tickets go back a second time, and Redis must
    // count that release too (not take it for a repeat of the one at expiry).
    const refunded = stripeEvent('charge.refunded', { id: payOrder.paymentIntentId, orderId });
    await sendSignedEvent(sys.app, refunded);
    await orderReaches(sys.app, orderId, 'REFUNDED');
    const after = await eventually(async () => {
      const s = await stockState(sys, event.id);
      return s.redis.stock === 2 ? s : undefined;
    });
    expect(after).toMatchObject({ pgAvailable: 2, held: 0 });
    expect(after.redis.held).toEqual({});
    // So the buyer may hold maxPerUser tickets again.
    expect(await book(sys, buyer!.token, event.id, 2)).toMatchObject({ status: 'RESERVED' });
  });
});

describe('after a sale', () => {
  it('has sold + available = total in Postgres and in Redis, with paid, failed, retried, cancelled and abandoned holds', async () => {
    const total = 12;
    const event = await createEvent(sys, admin, { ticketsTotal: total, maxPerUser: 2 });
    const buyers = await createBuyers(sys, 8);
    const orders = await Promise.all(buyers.map((b, i) => bookOrder(sys, b.token, event.id, i % 2 === 0 ? 1 : 2)));
    const payWith = async (i: number, outcome?: 'SUCCEED' | 'FAIL') => {
      await gqlOk(sys.url, PayOrderDocument, { orderId: orders[i]! }, buyers[i]!.token);
      if (outcome) await gqlOk(sys.url, SimulatePaymentDocument, { orderId: orders[i]!, outcome }, buyers[i]!.token);
    };
    await Promise.all([
      payWith(0, 'SUCCEED'),
      payWith(1, 'SUCCEED'),
      payWith(2, 'FAIL'), // fails and is left
      (async () => {
        await payWith(3, 'FAIL');
        await payWith(3, 'SUCCEED'); // fails, then pays
      })(),
      payWith(4), // starts paying, never finishes
      gqlOk(sys.url, CancelOrderDocument, { orderId: orders[5]! }, buyers[5]!.token),
      // 6 and 7 never pay
    ]);

    for (const i of [2, 4, 6, 7]) await orderReaches(sys.app, orders[i]!, 'CANCELLED', EXPIRY_WAIT_MS);
    const statuses = await Promise.all(orders.map((id) => orderStatus(sys.app, id)));
    expect(statuses).toEqual([
      'SUCCEEDED',
      'SUCCEEDED',
      'CANCELLED',
      'SUCCEEDED',
      'CANCELLED',
      'CANCELLED',
      'CANCELLED',
      'CANCELLED',
    ]);
    const sold = 1 + 2 + 2; // buyers 0, 1 and 3

    const state = await eventually(async () => {
      const s = await stockState(sys, event.id);
      return s.redis.stock === total - sold ? s : undefined;
    });
    expect(state.held).toBe(sold);
    expect(state.pgAvailable + state.held).toBe(total);
    expect(state.redis).toMatchObject({ stock: total - sold, inflightQty: 0 });
    expect(state.redis.held).toMatchObject(state.heldByUser);
    expect(Object.values(state.redis.held).reduce((a, b) => a + b, 0)).toBe(sold);
    // Every cancelled order was told once, and every paid one once.
    for (const i of [2, 4, 5, 6, 7]) expect(await notificationRequests(sys.app, orders[i]!, 'ORDER_CANCELLED')).toBe(1);
    for (const i of [0, 1, 3]) expect(await notificationRequests(sys.app, orders[i]!, 'ORDER_SUCCEEDED')).toBe(1);
  });
});

describe('the expiry sweep', () => {
  it('ends a hold whose delayed job was lost, within the hold plus one sweep interval', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 3, maxPerUser: 1 });
    const [buyer] = await createBuyers(sys, 1);
    const orderId = await bookOrder(sys, buyer!.token, event.id);
    // JetStream on one node can lose a message in a crash: here, every expiry job is gone.
    await sys.app.infra.nats.jsm.streams.purge(sys.app.infra.nats.names.streams.expiry);

    const worker = await sys.startInstance({ ROLE: 'worker', SWEEP_INTERVAL_MS: '300' });
    await orderReaches(sys.app, orderId, 'CANCELLED', EXPIRY_WAIT_MS);
    await eventually(async () => ((await stockState(sys, event.id)).redis.stock === 3 ? true : undefined));
    expect(await notificationRequests(sys.app, orderId, 'ORDER_CANCELLED')).toBe(1);
    await worker.stop();
  });
});
