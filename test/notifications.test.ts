import { randomUUID } from 'node:crypto';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NotificationLive } from '../src/services/messages/live-topics.js';
import {
  MarkNotificationReadDocument,
  NotificationReceivedDocument,
  NotificationsDocument,
  RegisterDeviceDocument,
} from './generated/graphql.js';
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

let sys: TestSystem;
let adminToken: string;
let event: { id: string; price: number; currency: string };
const clients: Client[] = [];

beforeAll(async () => {
  sys = await startTestSystem();
  adminToken = (await signUp(sys, ADMIN_EMAIL)).token;
  event = await createEvent(sys, adminToken, { title: 'Midnight Jazz', price: 5000, currency: 'USD' });
});
afterAll(async () => {
  for (const client of clients) await client.dispose();
  await sys.stop();
});

type Session = ReturnType<typeof openSession>;

function openSession(token?: string) {
  const client = wsClient(sys.wsUrl, token);
  clients.push(client);
  return subscribe(client, NotificationReceivedDocument);
}

const received = (session: Session, id: string) =>
  session.messages.filter((m) => m.data?.notificationReceived.id === id).length;

/**
 * Resolves once the session's subscription is live on the server: a probe published on the live
 * bus (as the worker publishes) has come through. Waiting on that avoids racing the subscribe.
 */
async function live(session: Session, userId: string): Promise<void> {
  const probe: NotificationLive = {
    id: randomUUID(),
    userId,
    kind: 'HOLD_EXPIRING',
    title: 'probe',
    body: 'probe',
    orderId: null,
    createdAt: new Date().toISOString(),
    readAt: null,
  };
  await eventually(
    () => {
      sys.app.infra.live.publish('notification', userId, probe);
      return received(session, probe.id) > 0 ? true : undefined;
    },
    10_000,
    'subscription live',
  );
}

async function register(token: string, deviceToken: string, platform: string | null = 'android') {
  return gqlOk(sys.url, RegisterDeviceDocument, { token: deviceToken, platform }, token);
}

async function inbox(token: string, first = 100, after: string | null = null) {
  return (await gqlOk(sys.url, NotificationsDocument, { first, after }, token)).notifications;
}

describe('a notification request from the outbox', () => {
  it('makes one inbox row, one live message to each session of its user and none to others, and one push per device', async () => {
    const buyer = await signUp(sys);
    const other = await signUp(sys);
    const devices = [fakeDeviceToken('phone'), fakeDeviceToken('tablet')];
    for (const device of devices) await register(buyer.token, device);
    await register(other.token, fakeDeviceToken('other'));
    const sessions = [openSession(buyer.token), openSession(buyer.token)];
    const otherSession = openSession(other.token);
    await Promise.all([...sessions.map((s) => live(s, buyer.user.id)), live(otherSession, other.user.id)]);

    const order = await insertOrder(sys.app, buyer.user.id, event, { quantity: 2 });
    const request = notificationRequest(order, 'ORDER_SUCCEEDED');
    await requestNotifications(sys.app, [request]);

    const [first] = await Promise.all(
      sessions.map((s) => s.next((m) => m.data?.notificationReceived.id === request.notificationId)),
    );
    expect(first?.data?.notificationReceived).toMatchObject({
      id: request.notificationId,
      kind: 'ORDER_SUCCEEDED',
      title: 'Payment received — 2 tickets for Midnight Jazz',
      body: 'We received $100.00. Your tickets are confirmed.',
      orderId: order.id,
      readAt: null,
    });
    await eventually(async () => ((await consumerIdle(sys.app)) ? true : undefined), 10_000, 'worker idle');
    // Live messages from one connection arrive in order: once a later probe is in, nothing else is coming.
    await Promise.all([...sessions.map((s) => live(s, buyer.user.id)), live(otherSession, other.user.id)]);

    expect(sessions.map((s) => received(s, request.notificationId))).toEqual([1, 1]);
    expect(received(otherSession, request.notificationId)).toBe(0);
    expect(await inboxRows(sys.app, request.notificationId)).toHaveLength(1);
    const listed = await inbox(buyer.token);
    expect(listed.totalCount).toBe(1);
    expect(listed.edges[0]?.node).toEqual(first?.data?.notificationReceived);
    expect((await inbox(other.token)).totalCount).toBe(0);

    const pushes = await pushDeliveries(sys.app, request.notificationId);
    expect(pushes.map((p) => p.token)).toEqual([...devices].sort());
    for (const p of pushes) {
      expect(p).toMatchObject({ provider: 'log', status: 'sent' });
      expect(p.payload).toMatchObject({
        notificationId: request.notificationId,
        title: 'Payment received — 2 tickets for Midnight Jazz',
        data: { kind: 'ORDER_SUCCEEDED', orderId: order.id },
      });
    }
  });

  it('delivered again creates no second inbox row or live message, and pushes only devices that have not had it', async () => {
    const buyer = await signUp(sys);
    const phone = fakeDeviceToken('phone');
    await register(buyer.token, phone);
    const session = openSession(buyer.token);
    await live(session, buyer.user.id);
    const order = await insertOrder(sys.app, buyer.user.id, event, { quantity: 1 });
    const request = notificationRequest(order, 'ORDER_CANCELLED');
    await requestNotifications(sys.app, [request]);
    await session.next((m) => m.data?.notificationReceived.id === request.notificationId);
    await eventually(async () => ((await consumerIdle(sys.app)) ? true : undefined), 10_000, 'worker idle');
    const firstPush = await pushDeliveries(sys.app, request.notificationId);
    expect(firstPush.map((p) => p.token)).toEqual([phone]);

    // A laptop registered since, then the same request twice more, past JetStream's duplicate
    // check (other message ids), as after a relay crash longer ago than the duplicate window.
    const laptop = fakeDeviceToken('laptop');
    await register(buyer.token, laptop, 'web');
    const { nats } = sys.app.infra;
    for (let i = 0; i < 2; i += 1) {
      await nats.js.publish(nats.names.jobs.notification, JSON.stringify(request), { msgID: randomUUID() });
    }
    await eventually(async () => ((await consumerIdle(sys.app)) ? true : undefined), 10_000, 'worker idle');
    await live(session, buyer.user.id);

    expect(await inboxRows(sys.app, request.notificationId)).toHaveLength(1);
    expect(received(session, request.notificationId)).toBe(1);
    const pushes = await pushDeliveries(sys.app, request.notificationId);
    expect(pushes.map((p) => p.token).sort()).toEqual([laptop, phone].sort());
    expect(pushes.every((p) => p.status === 'sent')).toBe(true);
    const metrics = await sys.app.infra.metrics.registry.getSingleMetricAsString('notifications_created_total');
    expect(metrics).toContain('kind="ORDER_CANCELLED"} 1');
  });
});

describe('the notifications inbox', () => {
  it('pages newest first with cursors, without gaps or repeats, even while new ones arrive', async () => {
    const buyer = await signUp(sys);
    const orders = [];
    for (let i = 0; i < 25; i += 1) orders.push(await insertOrder(sys.app, buyer.user.id, event, { quantity: 1 }));
    const requests = orders.map((o, i) => notificationRequest(o, i % 2 ? 'HOLD_EXPIRING' : 'ORDER_SUCCEEDED'));
    await requestNotifications(sys.app, requests);
    await eventually(async () => ((await inbox(buyer.token, 1)).totalCount === 25 ? true : undefined));

    const seen: { id: string; createdAt: string }[] = [];
    let page = await inbox(buyer.token, 7);
    seen.push(...page.edges.map((e) => e.node));
    // One more arrives after the first page: it is newer, so it belongs before the cursor.
    const late = notificationRequest(await insertOrder(sys.app, buyer.user.id, event), 'ORDER_REFUNDED');
    await requestNotifications(sys.app, [late]);
    await eventually(async () => ((await inbox(buyer.token, 1)).totalCount === 26 ? true : undefined));
    let pages = 1;
    while (page.pageInfo.hasNextPage) {
      page = await inbox(buyer.token, 7, page.pageInfo.endCursor);
      seen.push(...page.edges.map((e) => e.node));
      pages += 1;
    }

    expect(pages).toBe(4);
    expect(page.totalCount).toBe(26);
    expect(seen.map((n) => n.id).sort()).toEqual(requests.map((r) => r.notificationId).sort());
    const times = seen.map((n) => Date.parse(n.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect((await inbox(buyer.token, 1)).edges[0]?.node.id).toBe(late.notificationId);
  });

  it('refuses a page size out of range, a cursor that is not one, and an anonymous caller', async () => {
    const { token } = await signUp(sys);
    expect(errorCode(await gql(sys.url, NotificationsDocument, { first: 0 }, token))).toBe('BAD_USER_INPUT');
    expect(errorCode(await gql(sys.url, NotificationsDocument, { after: 'bogus' }, token))).toBe('BAD_USER_INPUT');
    const forged = Buffer.from(JSON.stringify(['inbox', 'yesterday', 'x'])).toString('base64url');
    expect(errorCode(await gql(sys.url, NotificationsDocument, { after: forged }, token))).toBe('BAD_USER_INPUT');
    expect(errorCode(await gql(sys.url, NotificationsDocument, {}))).toBe('UNAUTHENTICATED');
  });
});

describe('markNotificationRead', () => {
  it('marks the owner’s notification read once; marking again keeps the first time', async () => {
    const buyer = await signUp(sys);
    const request = notificationRequest(await insertOrder(sys.app, buyer.user.id, event), 'HOLD_EXPIRING');
    await requestNotifications(sys.app, [request]);
    await eventually(async () => ((await inbox(buyer.token)).totalCount === 1 ? true : undefined));

    const { markNotificationRead: read } = await gqlOk(
      sys.url,
      MarkNotificationReadDocument,
      { id: request.notificationId },
      buyer.token,
    );
    expect(read.readAt).not.toBeNull();
    const again = await gqlOk(sys.url, MarkNotificationReadDocument, { id: request.notificationId }, buyer.token);
    expect(again.markNotificationRead).toEqual(read);
    expect((await inbox(buyer.token)).edges[0]?.node.readAt).toBe(read.readAt);
  });

  it('answers NOT_FOUND for another user’s notification, as for one that does not exist, and leaves it unread', async () => {
    const owner = await signUp(sys);
    const intruder = await signUp(sys);
    const request = notificationRequest(await insertOrder(sys.app, owner.user.id, event));
    await requestNotifications(sys.app, [request]);
    await eventually(async () => ((await inbox(owner.token)).totalCount === 1 ? true : undefined));

    for (const id of [request.notificationId, randomUUID(), 'not-an-id']) {
      const res = await gql(sys.url, MarkNotificationReadDocument, { id }, intruder.token);
      expect(errorCode(res), id).toBe('NOT_FOUND');
      expect(res.errors?.[0]?.message).toBe('No such notification');
    }
    expect((await inbox(intruder.token)).totalCount).toBe(0);
    expect((await inbox(owner.token)).edges[0]?.node.readAt).toBeNull();
    expect(errorCode(await gql(sys.url, MarkNotificationReadDocument, { id: request.notificationId }))).toBe(
      'UNAUTHENTICATED',
    );
  });
});

describe('registerDevice', () => {
  const deviceRows = (token: string) =>
    sys.app.infra.orm.em
      .fork()
      .execute<{ user_id: string; platform: string | null }[]>(
        `select user_id, platform from device_tokens where token = ?`,
        [token],
      );

  it('keeps one row per token when registered twice, and moves a token to the user who registers it last', async () => {
    const first = await signUp(sys);
    const second = await signUp(sys);
    const device = fakeDeviceToken();

    expect((await register(first.token, device, 'IOS')).registerDevice).toBe(true);
    expect((await register(first.token, device, null)).registerDevice).toBe(true);
    expect(await deviceRows(device)).toEqual([{ user_id: first.user.id, platform: 'ios' }]);

    await register(second.token, device, 'ios');
    expect(await deviceRows(device)).toEqual([{ user_id: second.user.id, platform: 'ios' }]);
  });

  it.each([
    ['token', 'short', 'android'],
    ['token', 'has a space in it somewhere', 'android'],
    ['token', 'x'.repeat(5000), 'android'],
    ['platform', fakeDeviceToken(), 'windows-phone'],
  ])('answers BAD_USER_INPUT naming %s when it is invalid, and stores nothing', async (field, token, platform) => {
    const user = await signUp(sys);
    const res = await gql(sys.url, RegisterDeviceDocument, { token, platform }, user.token);
    expect(errorCode(res)).toBe('BAD_USER_INPUT');
    expect(res.errors?.[0]?.extensions?.['field']).toBe(field);
    expect(await deviceRows(token)).toEqual([]);
  });

  it('needs a signed-in user', async () => {
    const res = await gql(sys.url, RegisterDeviceDocument, { token: fakeDeviceToken() });
    expect(errorCode(res)).toBe('UNAUTHENTICATED');
  });
});

describe('notificationReceived', () => {
  it('refuses an anonymous subscriber with UNAUTHENTICATED', async () => {
    const session = openSession();
    await eventually(() => (session.completed ? true : undefined), 10_000, 'subscription ended');
    expect(JSON.stringify(session.failure ?? session.messages)).toContain('UNAUTHENTICATED');
  });
});
