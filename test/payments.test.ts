import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CancelOrderDocument,
  EventDocument,
  NotificationsDocument,
  OrderDocument,
  OrderUpdatedDocument,
  PayOrderDocument,
  PaymentCountdownDocument,
  SimulatePaymentDocument,
} from './generated/graphql.js';
import { ADMIN_EMAIL, createEvent, signUp, stockState } from './support/fixtures.js';
import {
  bookOrder,
  eventOutcome,
  notificationRequests,
  orderReaches,
  orderSettlement,
  orderStatus,
  paymentOf,
  postWebhook,
  sendSignedEvent,
  sql,
  stripeEvent,
  webhookEvent,
} from './support/payment-fixtures.js';
import {
  errorCode,
  eventually,
  gql,
  gqlOk,
  startTestSystem,
  subscribe,
  wsClient,
  type TestSystem,
} from './support/system.js';

/** The simulated provider end to end: payOrder, simulatePayment through the signed webhook, the worker. */
let sys: TestSystem;
let admin: string;
let buyer: { token: string; id: string };
let other: { token: string; id: string };

beforeAll(async () => {
  sys = await startTestSystem({
    BOOKING_WAIT_MS: '5000',
    BOOKING_RATE_PER_SECOND: '100',
    HOLD_SECONDS: '120',
    SWEEP_INTERVAL_MS: '500',
  });
  admin = (await signUp(sys, ADMIN_EMAIL)).token;
  const b = await signUp(sys);
  buyer = { token: b.token, id: b.user.id };
  const o = await signUp(sys);
  other = { token: o.token, id: o.user.id };
});
afterAll(async () => {
  await sys.stop();
});

const pay = (orderId: string, token = buyer.token) => gql(sys.url, PayOrderDocument, { orderId }, token);
const simulate = (orderId: string, outcome: 'SUCCEED' | 'FAIL', token = buyer.token) =>
  gql(sys.url, SimulatePaymentDocument, { orderId, outcome }, token);
const available = async (eventId: string) =>
  (await gqlOk(sys.url, EventDocument, { id: eventId })).event!.ticketsAvailable;

async function payingOrder(eventId?: string) {
  const id = eventId ?? (await createEvent(sys, admin, { ticketsTotal: 10 })).id;
  const orderId = await bookOrder(sys, buyer.token, id);
  const { payOrder } = await gqlOk(sys.url, PayOrderDocument, { orderId }, buyer.token);
  return { orderId, eventId: id, intentId: payOrder.paymentIntentId };
}

describe('paying an order', () => {
  it('moves UNPAID → PAYING → SUCCEEDED, live on orderUpdated, with one notification', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 5 });
    const orderId = await bookOrder(sys, buyer.token, event.id, 2);
    const ws = wsClient(sys.wsUrl, buyer.token);
    const updates = subscribe(ws, OrderUpdatedDocument, { id: orderId });
    await updates.next((m) => m.data?.orderUpdated.status === 'UNPAID');

    const session = (await pay(orderId)).data!.payOrder;
    expect(session.provider).toBe('simulated');
    expect(session.paymentIntentId).toMatch(/^pi_sim_/);
    expect(session.clientSecret.startsWith(`${session.paymentIntentId}_secret_`)).toBe(true);
    expect(session.order).toMatchObject({ id: orderId, status: 'PAYING' });
    expect(session.order.secondsLeft).toBeGreaterThan(100);
    await updates.next((m) => m.data?.orderUpdated.status === 'PAYING');

    const paid = await simulate(orderId, 'SUCCEED');
    expect(paid.errors).toBeUndefined();
    expect(paid.data!.simulatePayment).toMatchObject({ id: orderId, status: 'SUCCEEDED', secondsLeft: 0 });
    await updates.next((m) => m.data?.orderUpdated.status === 'SUCCEEDED');
    expect(updates.messages.map((m) => m.data?.orderUpdated.status)).toEqual(['UNPAID', 'PAYING', 'SUCCEEDED']);
    await ws.dispose();

    expect(await paymentOf(sys.app, orderId)).toMatchObject({ status: 'succeeded', provider: 'simulated' });
    const [stored] = await sql<{ outcome: string }>(
      sys.app,
      `select outcome from webhook_events where payload->'data'->'object'->>'id' = ?`,
      [session.paymentIntentId],
    );
    expect(stored?.outcome).toBe('applied: SUCCEEDED');
    const inbox = await eventually(async () => {
      const { notifications } = await gqlOk(sys.url, NotificationsDocument, {}, buyer.token);
      const found = notifications.edges.filter((e) => e.node.orderId === orderId);
      return found.length > 0 ? found : undefined;
    });
    expect(inbox.map((e) => e.node.kind)).toEqual(['ORDER_SUCCEEDED']);
    expect(await available(event.id)).toBe(3);

    const again = await pay(orderId);
    expect(errorCode(again)).toBe('CONFLICT');
    expect(again.errors![0]!.message).toMatch(/already paid/);

    const metrics = await (await fetch(`${sys.app.url}/metrics`)).text();
    for (const line of [
      'payment_provider_calls_total{provider="simulated",operation="create_intent",outcome="success"}',
      'payment_provider_call_seconds_count{provider="simulated",operation="create_intent"}',
      'order_transitions_total{status="UNPAID"}',
      'order_transitions_total{status="SUCCEEDED"}',
      'payment_webhooks_total{result="accepted",type="payment_intent.succeeded"}',
      'payment_events_applied_total{action="payment_intent.succeeded",outcome="applied"}',
    ]) {
      expect(metrics).toContain(line);
    }
  });

  it('lets a failed payment be paid again with the same intent, then succeed', async () => {
    const { orderId, intentId } = await payingOrder();
    const failed = await simulate(orderId, 'FAIL');
    expect(failed.data!.simulatePayment.status).toBe('FAILED');
    expect(failed.data!.simulatePayment.secondsLeft).toBeGreaterThan(0);
    expect(errorCode(await simulate(orderId, 'SUCCEED'))).toBe('CONFLICT'); // FAILED is not PAYING

    const retry = (await pay(orderId)).data!.payOrder;
    expect(retry.paymentIntentId).toBe(intentId);
    expect(retry.order.status).toBe('PAYING');
    expect((await simulate(orderId, 'SUCCEED')).data!.simulatePayment.status).toBe('SUCCEEDED');
    expect(await sql(sys.app, `select 1 from payments where order_id = ?`, [orderId])).toHaveLength(1);
  });

  it('creates one PaymentIntent however often payOrder is called, at once or again', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 5 });
    const orderId = await bookOrder(sys, buyer.token, event.id);
    const results = await Promise.all(Array.from({ length: 8 }, () => pay(orderId)));
    for (const r of results) expect(r.errors).toBeUndefined();
    const intents = new Set(results.map((r) => r.data!.payOrder.paymentIntentId));
    expect(intents.size).toBe(1);
    const again = (await pay(orderId)).data!.payOrder;
    expect(again.paymentIntentId).toBe([...intents][0]);
    expect(again.order.status).toBe('PAYING');
    expect(await sql(sys.app, `select 1 from payments where order_id = ?`, [orderId])).toHaveLength(1);
  });

  it('refuses simulatePayment for an order that is not PAYING', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 5 });
    const orderId = await bookOrder(sys, buyer.token, event.id);
    const res = await simulate(orderId, 'SUCCEED');
    expect(errorCode(res)).toBe('CONFLICT');
    expect(res.errors![0]!.message).toMatch(/call payOrder first/);
  });
});

describe('a free order', () => {
  it('is paid at once by payOrder, with nothing to confirm and no payment intent', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 5, price: 0 });
    const orderId = await bookOrder(sys, buyer.token, event.id);
    const { payOrder } = await gqlOk(sys.url, PayOrderDocument, { orderId }, buyer.token);
    expect(payOrder).toMatchObject({ provider: 'free', clientSecret: '', order: { status: 'SUCCEEDED', id: orderId } });
    expect(await paymentOf(sys.app, orderId)).toBeUndefined();
    expect(errorCode(await pay(orderId))).toBe('CONFLICT'); // already paid
    const inbox = await eventually(async () => {
      const { notifications } = await gqlOk(sys.url, NotificationsDocument, {}, buyer.token);
      const found = notifications.edges.filter((e) => e.node.orderId === orderId);
      return found.length > 0 ? found : undefined;
    });
    expect(inbox.map((e) => e.node.kind)).toEqual(['ORDER_SUCCEEDED']);
  });
});

describe('ownership', () => {
  it('hides another user’s order: it cannot be seen, paid, simulated, cancelled or followed', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 5 });
    const orderId = await bookOrder(sys, buyer.token, event.id);
    await gqlOk(sys.url, PayOrderDocument, { orderId }, buyer.token);

    expect((await gqlOk(sys.url, OrderDocument, { id: orderId }, other.token)).order).toBeNull();
    expect(errorCode(await pay(orderId, other.token))).toBe('NOT_FOUND');
    expect(errorCode(await simulate(orderId, 'SUCCEED', other.token))).toBe('NOT_FOUND');
    expect(errorCode(await gql(sys.url, CancelOrderDocument, { orderId }, other.token))).toBe('NOT_FOUND');
    const ws = wsClient(sys.wsUrl, other.token);
    const updates = subscribe(ws, OrderUpdatedDocument, { id: orderId });
    await eventually(() => (updates.completed ? true : undefined));
    expect(JSON.stringify(updates.failure ?? updates.messages)).toContain('NOT_FOUND');
    await ws.dispose();
    // Unknown ids look the same; anonymous callers are asked to sign in.
    expect(errorCode(await pay('00000000-0000-4000-8000-000000000000'))).toBe('NOT_FOUND');
    expect(errorCode(await pay('not-an-id'))).toBe('NOT_FOUND');
    expect(errorCode(await gql(sys.url, PayOrderDocument, { orderId }))).toBe('UNAUTHENTICATED');

    expect(await orderStatus(sys.app, orderId)).toBe('PAYING');
  });
});

describe('cancelOrder', () => {
  it('gives an unpaid hold back at once, tickets on sale again, and refuses to pay it after', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 3, maxPerUser: 2 });
    const orderId = await bookOrder(sys, buyer.token, event.id, 2);
    expect(await available(event.id)).toBe(1);

    const { cancelOrder } = await gqlOk(sys.url, CancelOrderDocument, { orderId }, buyer.token);
    expect(cancelOrder).toMatchObject({ id: orderId, status: 'CANCELLED', secondsLeft: 0 });
    await eventually(async () => ((await available(event.id)) === 3 ? true : undefined));
    const gate = await sys.app.services.gate.inspect(event.id);
    expect(gate.stock).toBe(3);
    expect(gate.held[buyer.id] ?? 0).toBe(0);
    expect(await notificationRequests(sys.app, orderId, 'ORDER_CANCELLED')).toBe(1);

    expect(errorCode(await gql(sys.url, CancelOrderDocument, { orderId }, buyer.token))).toBe('CONFLICT');
    const payAfter = await pay(orderId);
    expect(errorCode(payAfter)).toBe('CONFLICT');
    expect(payAfter.errors![0]!.message).toMatch(/cancelled/);
  });

  it('cancels a PAYING order’s intent first, then the order', async () => {
    const { orderId, eventId } = await payingOrder();
    const { cancelOrder } = await gqlOk(sys.url, CancelOrderDocument, { orderId }, buyer.token);
    expect(cancelOrder.status).toBe('CANCELLED');
    expect(await paymentOf(sys.app, orderId)).toMatchObject({ status: 'canceled' });
    await eventually(async () => ((await available(eventId)) === 10 ? true : undefined));
  });

  it('settles every order once when the buyer cancels while the payment succeeds, with no ticket lost or sold twice', async () => {
    const total = 6;
    const event = await createEvent(sys, admin, { ticketsTotal: total, maxPerUser: total });
    const orders = await Promise.all(Array.from({ length: total }, () => payingOrder(event.id)));
    const cancels = await Promise.all(
      orders.map(async ({ orderId }) => {
        const [, cancel] = await Promise.all([
          simulate(orderId, 'SUCCEED'),
          gql(sys.url, CancelOrderDocument, { orderId }, buyer.token),
        ]);
        return cancel;
      }),
    );
    // Each cancelOrder either won (CANCELLED) or found the money first (CONFLICT); nothing else.
    for (const cancel of cancels) {
      if (cancel.errors) expect(errorCode(cancel)).toBe('CONFLICT');
      else expect(cancel.data?.cancelOrder.status).toBe('CANCELLED');
    }

    // Once every webhook is applied, each order ended exactly one way ... (A cancelled order may
    // still succeed when its payment's event is applied, so statuses and unapplied events are
    // read together.)
    const final = await eventually(async () => {
      const { statuses, unappliedEvents } = await orderSettlement(
        sys.app,
        orders.map((o) => o.orderId),
      );
      return unappliedEvents === 0 && statuses.every((st) => ['SUCCEEDED', 'CANCELLED', 'REFUNDED'].includes(st))
        ? statuses
        : undefined;
    }, 15_000);
    for (const [i, status] of final.entries()) {
      const orderId = orders[i]!.orderId;
      expect(await notificationRequests(sys.app, orderId, 'ORDER_SUCCEEDED')).toBe(status === 'SUCCEEDED' ? 1 : 0);
    }
    // ... and the tickets add up, in Postgres and in Redis.
    const sold = final.filter((st) => st === 'SUCCEEDED').length;
    const state = await eventually(async () => {
      const st = await stockState(sys, event.id);
      return st.redis.stock === st.pgAvailable ? st : undefined;
    });
    expect(state.pgAvailable + sold).toBe(total);
    expect(state.held).toBe(sold);
    expect(state.redis.held).toEqual(state.heldByUser);
  });

  it('refuses to cancel a paid order', async () => {
    const { orderId } = await payingOrder();
    await simulate(orderId, 'SUCCEED');
    expect(errorCode(await gql(sys.url, CancelOrderDocument, { orderId }, buyer.token))).toBe('CONFLICT');
    expect(await orderStatus(sys.app, orderId)).toBe('SUCCEEDED');
  });
});

describe('paymentCountdown', () => {
  it('ticks down each second while the hold runs, then sends the final status and completes', async () => {
    const { orderId } = await payingOrder();
    const ws = wsClient(sys.wsUrl, buyer.token);
    const ticks = subscribe(ws, PaymentCountdownDocument, { orderId });
    const first = await ticks.next();
    expect(first.data!.paymentCountdown).toMatchObject({ orderId, status: 'PAYING' });
    await ticks.next((m) => m.data!.paymentCountdown.secondsLeft <= first.data!.paymentCountdown.secondsLeft - 1, 3000);

    await simulate(orderId, 'SUCCEED');
    await ticks.next((m) => m.data?.paymentCountdown.status === 'SUCCEEDED');
    await eventually(() => (ticks.completed ? true : undefined));
    expect(ticks.messages.at(-1)!.data!.paymentCountdown).toEqual({ orderId, secondsLeft: 0, status: 'SUCCEEDED' });
    const seconds = ticks.messages.slice(0, -1).map((m) => m.data!.paymentCountdown.secondsLeft);
    expect(seconds).toEqual([...seconds].sort((a, b) => b - a));
    await ws.dispose();
  });
});

describe('the Stripe webhook', () => {
  it('rejects forged, unsigned, stale and tampered events with 400 and stores nothing', async () => {
    const { orderId, intentId } = await payingOrder();
    const before = await sql(sys.app, `select id from webhook_events`);
    const event = stripeEvent('payment_intent.succeeded', { id: intentId, orderId });

    const forged = await sendSignedEvent(sys.app, event, { secret: 'whsec_not_ours' });
    expect(forged).toEqual({ status: 400, body: { error: 'bad_signature' } });
    expect((await postWebhook(sys.app, JSON.stringify(event))).status).toBe(400);
    const stale = await sendSignedEvent(sys.app, event, { ageSeconds: 600 });
    expect(stale).toEqual({ status: 400, body: { error: 'bad_signature' } });
    const { default: Stripe } = await import('stripe');
    const signature = Stripe.webhooks.generateTestHeaderString({
      payload: JSON.stringify(event),
      secret: sys.config.payments.webhookSecret,
    });
    const tampered = JSON.stringify({ ...event, type: 'charge.refunded' });
    expect((await postWebhook(sys.app, tampered, signature)).status).toBe(400);

    expect(await sql(sys.app, `select id from webhook_events`)).toEqual(before);
    expect(await webhookEvent(sys.app, event.id)).toBeUndefined();
    expect(await orderStatus(sys.app, orderId)).toBe('PAYING');
  });

  it('applies a duplicated event once, and a failure that arrives after the success changes nothing', async () => {
    const { orderId, intentId } = await payingOrder();
    const succeeded = stripeEvent('payment_intent.succeeded', { id: intentId, orderId });
    const copies = await Promise.all([1, 2, 3].map(() => sendSignedEvent(sys.app, succeeded)));
    for (const c of copies) expect(c).toEqual({ status: 200, body: { received: true } });
    expect(await eventOutcome(sys.app, succeeded.id)).toBe('applied: SUCCEEDED');

    const lateFailure = stripeEvent('payment_intent.payment_failed', {
      id: intentId,
      orderId,
      status: 'requires_payment_method',
    });
    await sendSignedEvent(sys.app, lateFailure);
    expect(await eventOutcome(sys.app, lateFailure.id)).toMatch(/^ignored: payment failure for a SUCCEEDED order/);
    // Sent again after it was applied: still 200, still applied once.
    expect((await sendSignedEvent(sys.app, succeeded)).status).toBe(200);

    expect(await orderStatus(sys.app, orderId)).toBe('SUCCEEDED');
    expect(await notificationRequests(sys.app, orderId, 'ORDER_SUCCEEDED')).toBe(1);
    expect(await sql(sys.app, `select 1 from webhook_events where id = ?`, [succeeded.id])).toHaveLength(1);
  });

  it('settles events that arrive out of order: failure and success at once end SUCCEEDED', async () => {
    for (let i = 0; i < 3; i += 1) {
      const { orderId, intentId } = await payingOrder();
      const failed = stripeEvent('payment_intent.payment_failed', {
        id: intentId,
        orderId,
        status: 'requires_payment_method',
      });
      const succeeded = stripeEvent('payment_intent.succeeded', { id: intentId, orderId });
      await Promise.all([sendSignedEvent(sys.app, succeeded), sendSignedEvent(sys.app, failed)]);
      await eventOutcome(sys.app, succeeded.id);
      await eventOutcome(sys.app, failed.id);
      expect(await orderStatus(sys.app, orderId)).toBe('SUCCEEDED');
      expect(await notificationRequests(sys.app, orderId, 'ORDER_SUCCEEDED')).toBe(1);
    }
  });

  it('acknowledges unsupported types and events of unknown intents, and records why they were ignored', async () => {
    const other = stripeEvent('customer.created', { id: 'pi_x', orderId: 'x' });
    expect((await sendSignedEvent(sys.app, other)).status).toBe(200);
    expect(await webhookEvent(sys.app, other.id)).toMatchObject({
      outcome: 'ignored: unsupported event type customer.created',
      processed_at: expect.anything(),
    });
    const unknown = stripeEvent('payment_intent.succeeded', {
      id: 'pi_unknown',
      orderId: '00000000-0000-4000-8000-000000000000',
    });
    expect((await sendSignedEvent(sys.app, unknown)).status).toBe(200);
    expect(await eventOutcome(sys.app, unknown.id)).toBe('ignored: unknown payment intent pi_unknown');
  });

  it('cancels an open order whose intent was cancelled at the provider, and gives its tickets back', async () => {
    const { orderId, intentId, eventId } = await payingOrder();
    expect(await available(eventId)).toBe(9);
    const canceled = stripeEvent('payment_intent.canceled', { id: intentId, orderId, status: 'canceled' });
    await sendSignedEvent(sys.app, canceled);
    await orderReaches(sys.app, orderId, 'CANCELLED');
    await eventually(async () => ((await available(eventId)) === 10 ? true : undefined));
    expect(await notificationRequests(sys.app, orderId, 'ORDER_CANCELLED')).toBe(1);
  });

  it('treats a full refund of a paid order (from the dashboard) as REFUNDED and puts its tickets back on sale', async () => {
    const { orderId, intentId, eventId } = await payingOrder();
    await simulate(orderId, 'SUCCEED');
    expect(await available(eventId)).toBe(9);
    const partial = { ...stripeEvent('charge.refunded', { id: intentId, orderId }) };
    (partial.data.object as Record<string, unknown>).refunded = false;
    (partial.data.object as Record<string, unknown>).amount_refunded = 100;
    await sendSignedEvent(sys.app, partial);
    expect(await eventOutcome(sys.app, partial.id)).toBe('applied: partial refund noted; order unchanged');
    expect(await orderStatus(sys.app, orderId)).toBe('SUCCEEDED');

    const refunded = stripeEvent('charge.refunded', { id: intentId, orderId });
    await sendSignedEvent(sys.app, refunded);
    await orderReaches(sys.app, orderId, 'REFUNDED');
    await eventually(async () => ((await available(eventId)) === 10 ? true : undefined));
    expect(await paymentOf(sys.app, orderId)).toMatchObject({ status: 'refunded' });
    expect(await notificationRequests(sys.app, orderId, 'ORDER_REFUNDED')).toBe(1);
  });
});
