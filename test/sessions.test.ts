import { randomUUID } from 'node:crypto';
import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Metrics } from '../src/metrics.js';
import {
  BookTicketDocument,
  CreateEventDocument,
  MeDocument,
  NotificationReceivedDocument,
  PayOrderDocument,
  RegisterDeviceDocument,
  SignInDocument,
  SignOutEverywhereDocument,
  SignUpDocument,
  StockChangedDocument,
} from './generated/graphql.js';
import { ADMIN_EMAIL, createEvent, eventInput, signUp } from './support/fixtures.js';
import { urlsFromEnv } from '../scripts/local-services.js';
import { errorCode, eventually, gql, gqlOk, startTestSystem, type TestSystem } from './support/system.js';
import { TcpProxy } from './support/tcp-proxy.js';

const PER_ADDRESS = 30;
const PER_USER = 2;
const PER_SOCKET = 3;
const PASSWORD = 'password123';

let sys: TestSystem;
let adminToken: string;
let eventId: string;

beforeAll(async () => {
  sys = await startTestSystem({
    WS_MAX_SOCKETS_PER_ADDRESS: String(PER_ADDRESS),
    WS_MAX_SOCKETS_PER_USER: String(PER_USER),
    WS_MAX_OPERATIONS_PER_SOCKET: String(PER_SOCKET),
  });
  adminToken = (await signUp(sys, ADMIN_EMAIL)).token;
  eventId = (await createEvent(sys, adminToken)).id;
});
afterAll(async () => {
  await sys.stop();
});

interface Frame {
  type: string;
  id?: string;
  payload?: unknown;
}

/** A raw graphql-ws socket, so tests see close codes and every frame as they are sent. */
function openSocket(token?: string, url = sys.wsUrl) {
  const ws = new WebSocket(url, 'graphql-transport-ws');
  const frames: Frame[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const acked = new Promise<void>((resolve, reject) => {
    ws.on('open', () =>
      ws.send(JSON.stringify({ type: 'connection_init', payload: token ? { authorization: `Bearer ${token}` } : {} })),
    );
    ws.on('message', (data) => {
      const frame = JSON.parse((data as Buffer).toString('utf8')) as Frame;
      frames.push(frame);
      if (frame.type === 'connection_ack') resolve();
    });
    void closed.then((c) => reject(new Error(`closed with ${c.code} ${c.reason}`)));
  });
  acked.catch(() => undefined);
  return {
    ws,
    frames,
    closed,
    acked,
    subscribe(id: string, query: string, variables: Record<string, unknown> = {}) {
      ws.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } }));
    },
    complete(id: string) {
      ws.send(JSON.stringify({ id, type: 'complete' }));
    },
    /** The first frame for operation `id` (next or error), waiting for it. */
    frameFor(id: string): Promise<Frame> {
      return eventually(() => frames.find((f) => f.id === id && f.type !== 'complete'), 10_000, `a frame for ${id}`);
    },
    async close() {
      ws.close();
      await closed;
    },
  };
}

const STOCK = print(StockChangedDocument);
const NOTIFICATIONS = print(NotificationReceivedDocument);
const ME = print(MeDocument);

async function gauge(metric: Metrics[keyof Metrics], labels: Record<string, string> = {}): Promise<number> {
  const { values } = await (metric as { get(): Promise<{ values: { value: number; labels: object }[] }> }).get();
  const match = values.find((v) =>
    Object.entries(labels).every(([k, l]) => (v.labels as Record<string, string>)[k] === l),
  );
  return match?.value ?? 0;
}

/** A fresh account, with a token of the given lifetime minted by the system's own secret. */
async function account(ttlSeconds?: number) {
  const email = `s-${randomUUID()}@example.test`;
  const { signUp: session } = await gqlOk(sys.url, SignUpDocument, { email, password: PASSWORD, name: 'S' });
  const token =
    ttlSeconds === undefined
      ? session.token
      : await sys.app.services.tokens.issue({ ...session.user, tokenVersion: 0 }, ttlSeconds);
  return { email, id: session.user.id, token };
}

describe('sessions over graphql-ws', () => {
  it('closes a socket with 4403 when its token expires, ending its subscriptions', async () => {
    const { token } = await account(2);
    const socket = openSocket(token);
    await socket.acked;
    socket.subscribe('live', NOTIFICATIONS);
    socket.subscribe('me', ME);
    expect(((await socket.frameFor('me')).payload as { data: unknown }).data).toMatchObject({ me: {} });
    const closed = await socket.closed;
    expect(closed).toEqual({ code: 4403, reason: 'Token expired' });
    expect(await gauge(sys.app.infra.metrics.wsSessionsEnded, { reason: 'expired' })).toBeGreaterThanOrEqual(1);
    // The token is no good on HTTP either, nor for a new socket.
    expect(errorCode(await gql(sys.url, MeDocument, {}, token))).toBe('UNAUTHENTICATED');
    expect((await openSocket(token).closed).code).toBe(4403);
  });

  it('signOutEverywhere ends every token of the caller, on HTTP at once and on open sockets', async () => {
    const { email, token: first } = await account();
    const { signIn } = await gqlOk(sys.url, SignInDocument, { email, password: PASSWORD });
    const second = signIn.token;
    const socket = openSocket(first);
    await socket.acked;
    socket.subscribe('live', NOTIFICATIONS);

    expect(await gqlOk(sys.url, SignOutEverywhereDocument, {}, second)).toEqual({ signOutEverywhere: true });

    for (const token of [first, second]) {
      const me = await gql(sys.url, MeDocument, {}, token);
      expect(me.status).toBe(401);
      expect(errorCode(me)).toBe('UNAUTHENTICATED');
      expect(errorCode(await gql(sys.url, PayOrderDocument, { orderId: randomUUID() }, token))).toBe('UNAUTHENTICATED');
      // The hot path refuses it too, from the in-process list of revocations.
      const booking = await gql(sys.url, BookTicketDocument, { eventId, quantity: 1, idempotencyKey: 'k' }, token);
      expect(errorCode(booking)).toBe('UNAUTHENTICATED');
    }
    expect(await socket.closed).toEqual({ code: 4403, reason: 'Session ended' });
    expect((await openSocket(first).closed).code).toBe(4403);

    // A gateway that hears of it by NOTIFY refuses the old tokens too, and so does one started afterwards.
    const later = await sys.startInstance({ ROLE: 'gateway' });
    expect(errorCode(await gql(`${later.url}/graphql`, MeDocument, {}, first))).toBe('UNAUTHENTICATED');

    // Signing in again gives a token that works.
    const again = (await gqlOk(sys.url, SignInDocument, { email, password: PASSWORD })).signIn.token;
    expect((await gqlOk(sys.url, MeDocument, {}, again)).me?.email).toBe(email);
    expect((await gqlOk(`${later.url}/graphql`, MeDocument, {}, again)).me?.email).toBe(email);
  });

  it('closes the sockets of a signed-out user on another gateway, which learns of it from Postgres', async () => {
    const other = await sys.startInstance({ ROLE: 'gateway' });
    const { token } = await account();
    const socket = openSocket(token, `ws://127.0.0.1:${other.port}/graphql`);
    await socket.acked;
    socket.subscribe('live', NOTIFICATIONS);
    await gqlOk(sys.url, SignOutEverywhereDocument, {}, token);
    expect(await socket.closed).toEqual({ code: 4403, reason: 'Session ended' });
    await eventually(async () =>
      errorCode(await gql(`${other.url}/graphql`, MeDocument, {}, token)) === 'UNAUTHENTICATED' ? true : undefined,
    );
  });
});

describe('roles and deleted accounts', () => {
  it('takes ADMIN away at once when an operator changes the role in SQL, and gives it at the next sign-in', async () => {
    const operator = `op-${randomUUID()}@example.test`;
    const { signUp: user } = await gqlOk(sys.url, SignUpDocument, { email: operator, password: PASSWORD, name: 'O' });
    const em = sys.app.infra.orm.em.fork();
    await em.execute(`update users set role = 'ADMIN' where id = ?`, [user.user.id]);
    // The USER token never was an admin's (FORBIDDEN), and is revoked by the change (UNAUTHENTICATED
    // once this gateway has heard); a new sign-in carries ADMIN.
    expect(['FORBIDDEN', 'UNAUTHENTICATED']).toContain(
      errorCode(await gql(sys.url, CreateEventDocument, { input: eventInput() }, user.token)),
    );
    const adminNow = (await gqlOk(sys.url, SignInDocument, { email: operator, password: PASSWORD })).signIn;
    expect(adminNow.user.role).toBe('ADMIN');
    await gqlOk(sys.url, CreateEventDocument, { input: eventInput() }, adminNow.token);

    await em.execute(`update users set role = 'USER' where id = ?`, [user.user.id]);
    // No wait: the very next request with the ADMIN token is refused (checked against Postgres).
    const demoted = await gql(sys.url, CreateEventDocument, { input: eventInput() }, adminNow.token);
    expect(errorCode(demoted)).toBe('UNAUTHENTICATED');
    const userNow = (await gqlOk(sys.url, SignInDocument, { email: operator, password: PASSWORD })).signIn;
    expect(userNow.user.role).toBe('USER');
    expect(errorCode(await gql(sys.url, CreateEventDocument, { input: eventInput() }, userNow.token))).toBe(
      'FORBIDDEN',
    );
    const [row] = await em.execute<{ token_version: number }[]>(`select token_version from users where id = ?`, [
      user.user.id,
    ]);
    expect(row?.token_version).toBe(2);
  });

  it('answers UNAUTHENTICATED, not an internal error, to the token of a deleted account', async () => {
    const { id, token } = await account();
    await sys.app.infra.orm.em.fork().execute(`delete from users where id = ?`, [id]);
    const res = await gql(
      sys.url,
      RegisterDeviceDocument,
      { token: 'device-token-000000001', platform: 'android' },
      token,
    );
    expect(errorCode(res)).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(sys.url, PayOrderDocument, { orderId: randomUUID() }, token))).toBe('UNAUTHENTICATED');
    // The NOTIFY of the deletion reaches every gateway: then even reads are refused.
    await eventually(async () =>
      errorCode(await gql(sys.url, MeDocument, {}, token)) === 'UNAUTHENTICATED' ? true : undefined,
    );
  });
});

describe('a session check while Postgres is down', () => {
  it('answers UNAVAILABLE to a privileged operation, and lets it through once Postgres is back', async () => {
    const real = urlsFromEnv();
    const postgres = await TcpProxy.forUrl(real.databaseUrl).start();
    // The test system names its own database on the server the URL points at (here: the proxy).
    const cut = await startTestSystem({ DATABASE_URL: postgres.rewrite(real.databaseUrl) });
    try {
      const { token } = await signUp(cut);
      postgres.down();
      const res = await gql(
        cut.url,
        RegisterDeviceDocument,
        { token: 'device-token-000000002', platform: 'ios' },
        token,
      );
      expect(errorCode(res)).toBe('UNAVAILABLE');
      postgres.up();
      await eventually(async () => {
        const again = await gql(
          cut.url,
          RegisterDeviceDocument,
          { token: 'device-token-000000002', platform: 'ios' },
          token,
        );
        if (again.data?.registerDevice !== true) throw new Error(JSON.stringify(again));
        return true;
      });
    } finally {
      postgres.up();
      await cut.stop();
      await postgres.stop();
    }
  });
});

describe('caps on graphql-ws', () => {
  it(`refuses the ${PER_ADDRESS + 1}st socket from one address with 4429, and counts it`, async () => {
    const before = await gauge(sys.app.infra.metrics.wsRefused, { reason: 'address' });
    const sockets = Array.from({ length: PER_ADDRESS }, () => openSocket());
    await Promise.all(sockets.map((s) => s.acked));
    const refused = openSocket();
    expect(await refused.closed).toEqual({ code: 4429, reason: 'Too many sockets from this address' });
    expect(await gauge(sys.app.infra.metrics.wsRefused, { reason: 'address' })).toBe(before + 1);
    await sockets[0]!.close();
    const next = openSocket();
    await next.acked;
    await Promise.all([...sockets.slice(1), next].map((s) => s.close()));
  });

  it(`refuses the ${PER_USER + 1}rd socket of one user with 4429, and counts it`, async () => {
    const { token } = await account();
    const before = await gauge(sys.app.infra.metrics.wsRefused, { reason: 'user' });
    const sockets = Array.from({ length: PER_USER }, () => openSocket(token));
    await Promise.all(sockets.map((s) => s.acked));
    expect(await openSocket(token).closed).toEqual({ code: 4429, reason: 'Too many sockets for this account' });
    expect(await gauge(sys.app.infra.metrics.wsRefused, { reason: 'user' })).toBe(before + 1);
    // Another user, and anonymous sockets, are not affected.
    const other = openSocket((await account()).token);
    await other.acked;
    await Promise.all([...sockets, other].map((s) => s.close()));
  });

  it(`refuses the ${PER_SOCKET + 1}th operation on one socket with RATE_LIMITED until one completes`, async () => {
    const before = await gauge(sys.app.infra.metrics.wsRefused, { reason: 'operations' });
    const socket = openSocket();
    await socket.acked;
    for (let i = 0; i < PER_SOCKET; i += 1) socket.subscribe(`s${i}`, STOCK, { eventId });
    await Promise.all(Array.from({ length: PER_SOCKET }, (_, i) => socket.frameFor(`s${i}`)));
    socket.subscribe('over', STOCK, { eventId });
    const refused = await socket.frameFor('over');
    expect(refused.type).toBe('error');
    expect((refused.payload as { extensions: { code: string } }[])[0]?.extensions.code).toBe('RATE_LIMITED');
    expect(await gauge(sys.app.infra.metrics.wsRefused, { reason: 'operations' })).toBe(before + 1);
    socket.complete('s0');
    await eventually(async () =>
      (await gauge(sys.app.infra.metrics.wsOperationsOpen)) === PER_SOCKET - 1 ? true : undefined,
    );
    socket.subscribe('again', STOCK, { eventId });
    expect((await socket.frameFor('again')).type).toBe('next');
    await socket.close();
  });

  it('runs one stockChanged operation for every socket watching an event: each gets the count, every change, and a late joiner the latest', async () => {
    const other = (await createEvent(sys, adminToken, { ticketsTotal: 7 })).id;
    const watched = (await createEvent(sys, adminToken, { ticketsTotal: 9, maxPerUser: 2 })).id;
    const sockets = Array.from({ length: 5 }, () => openSocket());
    const opened = [...sockets];
    try {
      await Promise.all(sockets.map((s) => s.acked));
      sockets.forEach((s) => s.subscribe('stock', STOCK, { eventId: watched }));
      sockets[0]!.subscribe('other', STOCK, { eventId: other });
      const counts = (socket: (typeof sockets)[number], id: string) =>
        socket.frames
          .filter((f) => f.id === id && f.type === 'next')
          .map(
            (f) =>
              (f.payload as { data: { stockChanged: { ticketsAvailable: number } } }).data.stockChanged
                .ticketsAvailable,
          );
      // The other event's operation never carries this one's counts (it may repeat its own).
      const otherCarriesOnlyItsOwn = () => expect(new Set(counts(sockets[0]!, 'other'))).toEqual(new Set([7]));
      const book = async (quantity: number, idempotencyKey: string) =>
        gqlOk(sys.url, BookTicketDocument, { eventId: watched, quantity, idempotencyKey }, (await account()).token);
      await eventually(() => (sockets.every((s) => counts(s, 'stock').includes(9)) ? true : undefined));
      otherCarriesOnlyItsOwn();
      // Two operations in the gateway, one per event, for six subscriptions.
      expect(sys.app.services.stock.subscriberCount()).toBe(2);

      await book(2, 'shared');
      await eventually(() => (sockets.every((s) => counts(s, 'stock').at(-1) === 7) ? true : undefined));
      const late = openSocket();
      opened.push(late);
      await late.acked;
      late.subscribe('stock', STOCK, { eventId: watched });
      otherCarriesOnlyItsOwn();
      await eventually(() => (counts(late, 'stock')[0] === 7 ? true : undefined));
      expect(sys.app.services.stock.subscriberCount()).toBe(2);

      // A subscriber that leaves does not end the others' operation; the last one to leave does.
      sockets[1]!.complete('stock');
      await book(1, 'shared-2');
      await eventually(() => (counts(late, 'stock').at(-1) === 6 ? true : undefined));
      expect(counts(sockets[1]!, 'stock').at(-1)).toBe(7);
    } finally {
      await Promise.all(opened.map((s) => s.close()));
    }
    await eventually(() => (sys.app.services.stock.subscriberCount() === 0 ? true : undefined));
  });

  it('releases every socket, subscription, timer and live listener once the sockets close', async () => {
    const metrics = sys.app.infra.metrics;
    const users = await Promise.all(Array.from({ length: 10 }, () => account()));
    const sockets = [
      ...users.map((u) => openSocket(u.token)),
      ...Array.from({ length: PER_ADDRESS - users.length }, () => openSocket()),
    ];
    await Promise.all(sockets.map((s) => s.acked));
    sockets.forEach((socket, i) => {
      socket.subscribe('stock', STOCK, { eventId });
      if (i < users.length) socket.subscribe('inbox', NOTIFICATIONS);
    });
    await Promise.all(sockets.map((s) => s.frameFor('stock')));
    await eventually(async () =>
      (await gauge(metrics.wsOperationsOpen)) === PER_ADDRESS + users.length ? true : undefined,
    );
    expect(await gauge(metrics.wsSocketsOpen)).toBe(PER_ADDRESS);
    expect(await gauge(metrics.wsTracked, { index: 'expiry_timer' })).toBe(users.length);
    expect(sys.app.infra.live.keyedListenerCount()).toBeGreaterThanOrEqual(users.length);
    // The sockets' identical stockChanged operations share one (see the test below).
    expect(sys.app.services.stock.subscriberCount()).toBe(1);

    await Promise.all(sockets.map((s) => s.close()));
    await eventually(async () =>
      (await gauge(metrics.wsSocketsOpen)) === 0 &&
      (await gauge(metrics.wsOperationsOpen)) === 0 &&
      sys.app.services.stock.subscriberCount() === 0 &&
      sys.app.infra.live.keyedListenerCount() === 0
        ? true
        : undefined,
    );
    for (const index of ['address', 'user', 'expiry_timer']) expect(await gauge(metrics.wsTracked, { index })).toBe(0);
  });
});
