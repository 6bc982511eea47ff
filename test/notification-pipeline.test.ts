import { randomUUID } from 'node:crypto';
import type { BatchResponse, MulticastMessage } from 'firebase-admin/messaging';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FcmSender, type MulticastClient } from '../src/infra/push/fcm.sender.js';
import { addToOutbox, type NotificationRequest } from '../src/services/messages/outbox.js';
import type { Worker } from '../src/workers/worker.js';
import { startNotificationWorker } from '../src/workers/notification.worker.js';
import { startOutboxRelay, type OutboxRelayOptions } from '../src/workers/outbox.relay.js';
import { RegisterDeviceDocument } from './generated/graphql.js';
import { ADMIN_EMAIL, createEvent, signUp } from './support/fixtures.js';
import {
  consumerIdle,
  fakeDeviceToken,
  inboxRows,
  insertOrder,
  notificationRequest,
  pushDeliveries,
  requestNotifications,
} from './support/notification-fixtures.js';
import { eventually, gqlOk, startTestSystem, type TestSystem } from './support/system.js';

/**
 * The pipeline's parts started by hand over a gateway-only system, so each test chooses how many
 * relays run, with which hooks, and which push driver the worker uses.
 */

let sys: TestSystem;
let event: { id: string; price: number; currency: string };
let running: Worker[] = [];
const HOUR_MS = 3600_000;

beforeAll(async () => {
  sys = await startTestSystem({ ROLE: 'gateway' });
  const admin = await signUp(sys, ADMIN_EMAIL);
  event = await createEvent(sys, admin.token, { title: 'Harbour Lights', price: 1250, currency: 'EUR' });
});
afterEach(async () => {
  await Promise.all(running.map((w) => w.stop()));
  running = [];
});
afterAll(async () => {
  await sys.stop();
});

async function relay({
  infra = sys.app.infra,
  ...options
}: OutboxRelayOptions & { infra?: typeof sys.app.infra } = {}) {
  // A poll an hour away: whatever gets published here was woken by the commit's NOTIFY.
  const r = await startOutboxRelay(infra, { pollIntervalMs: HOUR_MS, ...options });
  running.push(r);
  return r;
}

async function worker(options: Parameters<typeof startNotificationWorker>[2] = {}) {
  const w = await startNotificationWorker(sys.app.infra, sys.app.services.notifications, options);
  running.push(w);
  return w;
}

/** A well-formed request for nobody; only for tests where no worker consumes it. */
function unroutedRequest(): NotificationRequest {
  return { notificationId: randomUUID(), kind: 'ORDER_SUCCEEDED', userId: randomUUID(), orderId: randomUUID() };
}

const sql = <T>(query: string, params: unknown[] = []) => sys.app.infra.orm.em.fork().execute<T[]>(query, params);

const unpublished = async () =>
  Number((await sql<{ n: string }>(`select count(*) as n from outbox where published_at is null`))[0]?.n);

const streamState = async () =>
  (await sys.app.infra.nats.jsm.streams.info(sys.app.infra.nats.names.streams.notifications)).state;

const purgeStream = () => sys.app.infra.nats.jsm.streams.purge(sys.app.infra.nats.names.streams.notifications);

const idle = () => eventually(async () => ((await consumerIdle(sys.app)) ? true : undefined), 15_000, 'worker idle');

describe('outbox relay', () => {
  it('publishes a row as soon as its transaction commits, and never one whose transaction rolled back', async () => {
    await relay();
    const before = (await streamState()).last_seq;

    await expect(
      sys.app.infra.orm.em.fork().transactional(async (em) => {
        addToOutbox(em, 'notification', unroutedRequest());
        await em.flush();
        throw new Error('the state change failed');
      }),
    ).rejects.toThrow('the state change failed');
    await requestNotifications(sys.app, [unroutedRequest()]);

    await eventually(async () => ((await unpublished()) === 0 ? true : undefined), 5000, 'row published');
    expect((await streamState()).last_seq - before).toBe(1);
    expect(await sql(`select id from outbox`)).toHaveLength(1);
    await purgeStream();
  });

  it('shares rows between relays running at once: each row is published by exactly one of them', async () => {
    const byRelay: string[][] = [[], []];
    await relay({ batchSize: 50, afterPublish: (ids) => void byRelay[0]!.push(...ids) });
    await relay({ batchSize: 50, afterPublish: (ids) => void byRelay[1]!.push(...ids) });
    const before = (await streamState()).last_seq;
    const rowsBefore = (await sql(`select id from outbox`)).length;

    for (let i = 0; i < 4; i += 1) {
      await requestNotifications(sys.app, Array.from({ length: 150 }, unroutedRequest));
    }
    await eventually(async () => ((await unpublished()) === 0 ? true : undefined), 10_000, 'all published');

    const all = [...byRelay[0]!, ...byRelay[1]!];
    expect(all).toHaveLength(600);
    expect(new Set(all).size).toBe(600);
    expect((await sql(`select id from outbox`)).length - rowsBefore).toBe(600);
    expect((await streamState()).last_seq - before).toBe(600);
    await purgeStream();
  });

  it('lets another relay publish the rows of a relay frozen mid-publish once its claim ends, not at the next poll', async () => {
    await worker();
    // Frozen in the middle of its publish (SIGSTOP, a half-open socket): JetStream never answers it.
    let publishing!: () => void;
    const claimed = new Promise<void>((resolve) => (publishing = resolve));
    let thaw!: (err: Error) => void;
    const frozenNats = {
      ...sys.app.infra.nats,
      js: {
        publish: () => {
          publishing();
          return new Promise((_, reject) => (thaw = reject));
        },
      },
    } as unknown as typeof sys.app.infra.nats;
    const frozen = await relay({ infra: { ...sys.app.infra, nats: frozenNats } });

    const buyer = await signUp(sys);
    const request = notificationRequest(await insertOrder(sys.app, buyer.user.id, event));
    await requestNotifications(sys.app, [request]);
    await claimed;
    // Started now, it finds the row taken; its own poll is an hour away.
    await relay();

    await eventually(
      async () => ((await inboxRows(sys.app, request.notificationId)).length === 1 ? true : undefined),
      20_000,
      'notice in the inbox',
    );
    expect(await unpublished()).toBe(0);
    thaw(new Error('thawed at the end of the test'));
    await frozen.stop();
    running = running.filter((w) => w !== frozen);
  });

  it('republishes after a crash between publishing and marking, and each notification reaches the inbox once', async () => {
    await worker();
    const buyer = await signUp(sys);
    const device = fakeDeviceToken();
    await gqlOk(sys.url, RegisterDeviceDocument, { token: device, platform: 'android' }, buyer.token);
    const created = () => sys.app.infra.metrics.notificationsCreated.get().then((m) => m.values);
    const createdBefore = (await created()).reduce((sum, v) => sum + v.value, 0);

    let crashed!: () => void;
    const crash = new Promise<void>((resolve) => (crashed = resolve));
    const doomed = await relay({
      afterPublish: () => {
        crashed();
        throw new Error('relay process killed');
      },
    });
    const before = (await streamState()).last_seq;
    const requests: NotificationRequest[] = [];
    for (let i = 0; i < 3; i += 1) {
      requests.push(notificationRequest(await insertOrder(sys.app, buyer.user.id, event, { quantity: i + 1 })));
    }
    await requestNotifications(sys.app, requests);
    await crash;
    await doomed.stop();
    running = running.filter((w) => w !== doomed);
    expect(await unpublished()).toBe(3); // JetStream has them, the outbox does not know

    await relay();
    await eventually(async () => ((await unpublished()) === 0 ? true : undefined), 5000, 'republished');
    await idle();

    // The republished copies had the same message ids, so JetStream kept one of each.
    expect((await streamState()).last_seq - before).toBe(3);
    for (const request of requests) {
      expect(await inboxRows(sys.app, request.notificationId)).toHaveLength(1);
      expect((await pushDeliveries(sys.app, request.notificationId)).map((p) => p.token)).toEqual([device]);
    }
    expect((await created()).reduce((sum, v) => sum + v.value, 0) - createdBefore).toBe(3);
    const [first] = await inboxRows(sys.app, requests[0]!.notificationId);
    expect(first).toMatchObject({ title: 'Payment received — 1 ticket for Harbour Lights' });
    expect(first?.body).toBe('We received €12.50. Your tickets are confirmed.');
  });
});

/**
 * firebase-admin's multicast call, answering per token from a script: what FCM answers, minus the
 * network. FcmSender (the driver under test here together with the worker) is the real one.
 */
class ScriptedFcm implements MulticastClient {
  readonly calls = new Map<string, number>();
  constructor(private readonly script: Map<string, string[]>) {}

  sendEachForMulticast(message: MulticastMessage): Promise<BatchResponse> {
    const responses = message.tokens.map((token) => {
      this.calls.set(token, (this.calls.get(token) ?? 0) + 1);
      const code = this.script.get(token)?.shift();
      if (!code) return { success: true, messageId: `projects/demo/messages/${randomUUID()}` };
      const error = Object.assign(new Error(`scripted ${code}`), { code, toJSON: () => ({ code }) });
      return { success: false, error };
    });
    const successCount = responses.filter((r) => r.success).length;
    return Promise.resolve({ responses, successCount, failureCount: responses.length - successCount });
  }
}

describe('push through FCM', () => {
  it('forgets a token FCM calls invalid, retries a failing device later, and never pushes a device twice', async () => {
    const buyer = await signUp(sys);
    const good = fakeDeviceToken('good');
    const gone = fakeDeviceToken('gone');
    const flaky = fakeDeviceToken('flaky');
    const dead = fakeDeviceToken('dead');
    for (const token of [good, gone, flaky, dead]) {
      await gqlOk(sys.url, RegisterDeviceDocument, { token, platform: 'ios' }, buyer.token);
    }
    const fcm = new ScriptedFcm(
      new Map([
        [gone, ['messaging/registration-token-not-registered']],
        [flaky, ['messaging/internal-error']],
        [dead, Array.from({ length: 10 }, () => 'messaging/internal-error')],
      ]),
    );
    // One attempt per send, so the worker's own retry (a delayed redelivery) is what is tested.
    await worker({ sender: new FcmSender(fcm, { maxAttempts: 1 }), maxAttempts: 3, retryBaseDelayMs: 50 });
    await relay();

    const request = notificationRequest(await insertOrder(sys.app, buyer.user.id, event), 'HOLD_EXPIRING');
    await requestNotifications(sys.app, [request]);
    await eventually(() => (fcm.calls.get(dead) === 3 ? true : undefined), 15_000, 'three attempts at the dead device');
    await idle();

    expect(Object.fromEntries(fcm.calls)).toEqual({ [good]: 1, [gone]: 1, [flaky]: 2, [dead]: 3 });
    const pushes = await pushDeliveries(sys.app, request.notificationId);
    const statusOf = (token: string) => pushes.find((p) => p.token === token)?.status;
    expect([statusOf(good), statusOf(gone), statusOf(flaky), statusOf(dead)]).toEqual([
      'sent',
      'invalid_token',
      'sent',
      'failed',
    ]);
    expect(pushes.every((p) => p.provider === 'fcm')).toBe(true);
    const devices = await sql<{ token: string }>(`select token from device_tokens where user_id = ? order by token`, [
      buyer.user.id,
    ]);
    expect(devices.map((d) => d.token)).toEqual([good, flaky, dead].sort());
    expect(await inboxRows(sys.app, request.notificationId)).toHaveLength(1);
    const metric = await sys.app.infra.metrics.registry.getSingleMetricAsString('push_deliveries_total');
    expect(metric).toContain('provider="fcm",outcome="gave_up"} 1');
  });
});
