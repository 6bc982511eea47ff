import { connect } from '@nats-io/transport-node';
import { jetstream, type JsMsg } from '@nats-io/jetstream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PushMessage, PushResult, PushSender } from '../src/infra/push/push-sender.js';
import type { Worker } from '../src/workers/worker.js';
import { startNotificationWorker } from '../src/workers/notification.worker.js';
import { startOutboxRelay } from '../src/workers/outbox.relay.js';
import { RegisterDeviceDocument } from './generated/graphql.js';
import { ADMIN_EMAIL, createEvent, signUp } from './support/fixtures.js';
import {
  consumerIdle,
  fakeDeviceToken,
  inboxRows,
  insertOrder,
  notificationRequest,
  requestNotifications,
} from './support/notification-fixtures.js';
import { eventually, gqlOk, startTestSystem, type TestSystem } from './support/system.js';

/**
 * A notification worker that dies holding messages it pulled (kill -9: nothing acked, nothing
 * nak'ed) must not delay those notices by more than a few seconds: before, they waited out the
 * consumer's 60 s ack wait. The old behaviour fails the deadlines below.
 */

let sys: TestSystem;
let event: { id: string; price: number; currency: string };
let running: Worker[] = [];

beforeAll(async () => {
  // Default QUEUE_ACK_WAIT_MS: the bound a deployment gets.
  sys = await startTestSystem({ ROLE: 'gateway' });
  const admin = await signUp(sys, ADMIN_EMAIL);
  event = await createEvent(sys, admin.token, { title: 'Night Ferry' });
});
afterEach(async () => {
  await Promise.all(running.map((w) => w.stop()));
  running = [];
});
afterAll(async () => {
  await sys.stop();
});

async function worker(sender?: PushSender) {
  const w = await startNotificationWorker(sys.app.infra, sys.app.services.notifications, sender ? { sender } : {});
  running.push(w);
  return w;
}

/** Another process's notification consumer: pulls from the same durable and never settles anything. */
async function doomedConsumer() {
  const { nats } = sys.app.infra;
  const nc = await connect({ servers: sys.config.natsUrl });
  const consumer = await jetstream(nc).consumers.get(nats.names.streams.notifications, 'notifications');
  const held: JsMsg[] = [];
  const messages = await consumer.fetch({ max_messages: 32, expires: 30_000 });
  void (async () => {
    for await (const msg of messages) held.push(msg);
  })().catch(() => undefined);
  return {
    held,
    /** Like kill -9: the connection drops with every message unacknowledged. */
    kill: () => nc.close(),
  };
}

describe('a notification worker killed while it holds notices', () => {
  it('has its notices delivered by another worker within seconds, each once', async () => {
    // The real worker creates the durable consumer as a deployment has it, then leaves.
    await (await worker()).stop();
    running = [];
    const relay = await startOutboxRelay(sys.app.infra);
    running.push(relay);

    const buyer = await signUp(sys);
    await gqlOk(sys.url, RegisterDeviceDocument, { token: fakeDeviceToken(), platform: 'ios' }, buyer.token);
    const doomed = await doomedConsumer();
    const requests = [];
    for (let i = 0; i < 5; i += 1) requests.push(notificationRequest(await insertOrder(sys.app, buyer.user.id, event)));
    await requestNotifications(sys.app, requests);
    await eventually(() => (doomed.held.length === 5 ? true : undefined), 10_000, 'the doomed worker holds all five');

    await doomed.kill();
    const killedAt = Date.now();
    await worker();
    // Well under the old 60 s ack wait; the bound is QUEUE_ACK_WAIT_MS (5 s) plus a heartbeat.
    for (const request of requests) {
      await eventually(
        async () => ((await inboxRows(sys.app, request.notificationId)).length === 1 ? true : undefined),
        20_000,
        'notice in the inbox',
      );
    }
    console.info(`notices reached the inbox ${Date.now() - killedAt} ms after the worker holding them was killed`);
    await eventually(async () => ((await consumerIdle(sys.app)) ? true : undefined), 10_000, 'worker idle');
    for (const request of requests) expect(await inboxRows(sys.app, request.notificationId)).toHaveLength(1);
  });

  it('keeps a job that runs longer than the ack wait with its live worker: it is not handed to another', async () => {
    let calls = 0;
    const ackWaitMs = sys.config.queue.ackWaitMs;
    // A provider that answers after twice the ack wait, as a slow FCM with retries would.
    const slow: PushSender = {
      name: 'log',
      async send(tokens: readonly string[], _message: PushMessage): Promise<PushResult[]> {
        calls += 1;
        await new Promise((resolve) => setTimeout(resolve, 2 * ackWaitMs));
        return tokens.map((token) => ({ token, outcome: 'sent' }));
      },
    };
    await worker(slow);
    await worker(slow); // a second, idle worker that would take a redelivered job
    running.push(await startOutboxRelay(sys.app.infra));

    const buyer = await signUp(sys);
    await gqlOk(sys.url, RegisterDeviceDocument, { token: fakeDeviceToken(), platform: 'ios' }, buyer.token);
    const request = notificationRequest(await insertOrder(sys.app, buyer.user.id, event), 'HOLD_EXPIRING');
    await requestNotifications(sys.app, [request]);
    await eventually(() => (calls > 0 ? true : undefined), 10_000, 'push under way');
    await eventually(async () => ((await consumerIdle(sys.app)) ? true : undefined), 6 * ackWaitMs, 'job settled');

    expect(calls).toBe(1);
    const { nats } = sys.app.infra;
    const info = await nats.jsm.consumers.info(nats.names.streams.notifications, 'notifications');
    expect(info.num_redelivered).toBe(0);
  });
});
