import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { PayOrderDocument } from './generated/graphql.js';
import { ADMIN_EMAIL, createBuyers, createEvent, signUp } from './support/fixtures.js';
import {
  bookOrder,
  eventOutcome,
  notificationRequests,
  orderStatus,
  sendSignedEvent,
  stripeEvent,
  webhookEvent,
} from './support/payment-fixtures.js';
import { gqlOk, startTestSystem, type TestSystem } from './support/system.js';

/**
 * Processes that stop between the webhook's 200 and the status change. The system's own process
 * is a gateway only (no workers); workers are separate instances that the tests start and stop.
 */
let sys: TestSystem;
let admin: string;

beforeAll(async () => {
  sys = await startTestSystem({ ROLE: 'gateway', BOOKING_WAIT_MS: '5000', BOOKING_RATE_PER_SECOND: '100' });
  admin = (await signUp(sys, ADMIN_EMAIL)).token;
});
afterAll(async () => {
  await sys.stop();
});

/** A PAYING order, booked and paid through the gateway with a worker that is then stopped. */
async function payingOrderWithoutWorkers() {
  const booker = await sys.startInstance({ ROLE: 'worker' });
  const event = await createEvent(sys, admin, { ticketsTotal: 5 });
  const [buyer] = await createBuyers(sys, 1);
  const orderId = await bookOrder(sys, buyer!.token, event.id);
  const { payOrder } = await gqlOk(sys.url, PayOrderDocument, { orderId }, buyer!.token);
  await booker.stop();
  return { orderId, intentId: payOrder.paymentIntentId };
}

const pending = async (app: App, eventId: string) => {
  const row = await webhookEvent(app, eventId);
  return row !== undefined && row.processed_at === null;
};

describe('a crash after the webhook answered', () => {
  it('loses nothing: the gateway that accepted the event stops, a worker started later applies it', async () => {
    const { orderId, intentId } = await payingOrderWithoutWorkers();
    const receiver = await sys.startInstance({ ROLE: 'gateway' });
    const event = stripeEvent('payment_intent.succeeded', { id: intentId, orderId });
    expect((await sendSignedEvent(receiver, event)).status).toBe(200);
    await receiver.stop();

    expect(await pending(sys.app, event.id)).toBe(true);
    expect(await orderStatus(sys.app, orderId)).toBe('PAYING');

    const worker = await sys.startInstance({ ROLE: 'worker' });
    expect(await eventOutcome(sys.app, event.id)).toBe('applied: SUCCEEDED');
    expect(await orderStatus(sys.app, orderId)).toBe('SUCCEEDED');
    expect(await notificationRequests(sys.app, orderId, 'ORDER_SUCCEEDED')).toBe(1);
    await worker.stop();
  });

  it('loses nothing when JetStream loses the queued event: the webhook sweep queues it again', async () => {
    const { orderId, intentId } = await payingOrderWithoutWorkers();
    const event = stripeEvent('payment_intent.succeeded', { id: intentId, orderId });
    expect((await sendSignedEvent(sys.app, event)).status).toBe(200);
    // The acknowledged message is gone (a one-node JetStream crash); only Postgres remembers the event.
    await sys.app.infra.nats.jsm.streams.purge(sys.app.infra.nats.names.streams.payments);

    const worker = await sys.startInstance({ ROLE: 'worker', SWEEP_INTERVAL_MS: '200' });
    expect(await eventOutcome(sys.app, event.id)).toBe('applied: SUCCEEDED');
    expect(await orderStatus(sys.app, orderId)).toBe('SUCCEEDED');
    await worker.stop();
  });
});
