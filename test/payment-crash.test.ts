import { connect } from '@nats-io/transport-node';
import { jetstream, type JsMsg } from '@nats-io/jetstream';
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
import { eventually, gqlOk, startTestSystem, type TestSystem } from './support/system.js';

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

  it('delays the notice by seconds when the payment worker holding the event is killed', async () => {
    const { orderId, intentId } = await payingOrderWithoutWorkers();
    // Another process's payment worker pulls the event and dies (kill -9) before settling it.
    const nc = await connect({ servers: sys.config.natsUrl });
    const { nats } = sys.app.infra;
    const doomed = await jetstream(nc).consumers.get(nats.names.streams.payments, 'payment-worker');
    const held: JsMsg[] = [];
    const messages = await doomed.fetch({ max_messages: 32, expires: 30_000 });
    void (async () => {
      for await (const msg of messages) held.push(msg);
    })().catch(() => undefined);

    const event = stripeEvent('payment_intent.succeeded', { id: intentId, orderId });
    expect((await sendSignedEvent(sys.app, event)).status).toBe(200);
    const paidAt = Date.now();
    await eventually(() => (held.length === 1 ? true : undefined), 10_000, 'the doomed worker holds the event');
    await nc.close();

    const worker = await sys.startInstance({ ROLE: 'worker' });
    // Well under the old 60 s ack wait (and the webhook sweep's 30 s).
    await eventually(
      async () => {
        const rows = await sys.app.infra.orm.em
          .fork()
          .execute(`select id from notifications where order_id = ? and kind = 'ORDER_SUCCEEDED'`, [orderId]);
        return rows.length === 1 ? true : undefined;
      },
      20_000,
      'ORDER_SUCCEEDED in the inbox',
    );
    console.info(`ORDER_SUCCEEDED reached the inbox ${Date.now() - paidAt} ms after the payment`);
    expect(await orderStatus(sys.app, orderId)).toBe('SUCCEEDED');
    await worker.stop();
  });
});
