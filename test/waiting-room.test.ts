import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BookAdmittedDocument,
  BookingDocument,
  CancelOrderDocument,
  EventWaitingRoomDocument,
  JoinWaitingRoomDocument,
  QueuePassDocument,
  QueuePassUpdatedDocument,
  type CreateEventInput,
} from './generated/graphql.js';
import { ADMIN_EMAIL, createBuyers, createEvent, signUp, stockState } from './support/fixtures.js';
import {
  errorCode,
  eventually,
  gql,
  gqlOk,
  startTestSystem,
  subscribe,
  wsClient,
  wsRequest,
  type TestSystem,
} from './support/system.js';

let sys: TestSystem;
let admin: string;
const SECOND = 1000;

beforeAll(async () => {
  sys = await startTestSystem({
    BOOKING_WAIT_MS: '5000',
    BOOKING_RATE_PER_SECOND: '50',
    WAITING_ROOM_SHUFFLE_SEED: '20261202',
    WAITING_ROOM_TICK_MS: '100',
  });
  admin = (await signUp(sys, ADMIN_EMAIL)).token;
});
afterAll(async () => {
  await sys.stop();
});

function roomEvent(overrides: Partial<CreateEventInput> & { saleInMs?: number } = {}) {
  const { saleInMs = -SECOND, ...rest } = overrides;
  return createEvent(sys, admin, {
    saleStartsAt: new Date(Date.now() + saleInMs).toISOString(),
    waitingRoom: { opensMinutesBefore: 30, admitPerSecond: 1000, admissionSeconds: 60 },
    ...rest,
  });
}

const join = (eventId: string, token: string) =>
  gqlOk(sys.url, JoinWaitingRoomDocument, { eventId }, token).then((d) => d.joinWaitingRoom);
const pass = (eventId: string, token: string) =>
  gqlOk(sys.url, QueuePassDocument, { eventId }, token).then((d) => d.queuePass);
const book = (eventId: string, token: string, admissionToken?: string | null, idempotencyKey = randomUUID()) =>
  gqlOk(sys.url, BookAdmittedDocument, { eventId, idempotencyKey, admissionToken }, token).then((d) => d.bookTicket);
const admitted = (eventId: string, token: string, timeoutMs = 15_000) =>
  eventually(
    async () => {
      const p = await pass(eventId, token);
      return p?.state === 'ADMITTED' ? p : undefined;
    },
    timeoutMs,
    'admission',
  );

const roomOf = (id: string) => gqlOk(sys.url, EventWaitingRoomDocument, { id }).then((d) => d.event!);

/** Spearman's rank correlation of two rankings of the same items (each a permutation of 1..n). */
function rankCorrelation(a: number[], b: number[]): number {
  const n = a.length;
  const d2 = a.reduce((sum, x, i) => sum + (x - b[i]!) ** 2, 0);
  return 1 - (6 * d2) / (n * (n * n - 1));
}

async function passRows(eventId: string) {
  return sys.app.infra.orm.em
    .fork()
    .execute<{ user_id: string; join_seq: string; position: number | null; admitted_at: Date | null }[]>(
      `select user_id, join_seq, position, admitted_at from queue_passes where event_id = ? order by join_seq`,
      [eventId],
    );
}

describe('the waiting room', () => {
  it('gives the pre-queue places independent of join order at the sale start, then later joiners FIFO, admitted at the configured rate', async () => {
    const rate = 200;
    const buyers = await createBuyers(sys, 1005);
    const event = await roomEvent({
      saleInMs: 12 * SECOND,
      ticketsTotal: 5000,
      waitingRoom: { opensMinutesBefore: 30, admitPerSecond: rate, admissionSeconds: 600 },
    });
    expect((await roomOf(event.id)).waitingRoom).toMatchObject({ admitPerSecond: rate, admissionSeconds: 600 });
    const early = buyers.slice(0, 1000);
    for (let i = 0; i < early.length; i += 50) {
      const passes = await Promise.all(early.slice(i, i + 50).map((b) => join(event.id, b.token)));
      for (const p of passes) expect(p).toMatchObject({ state: 'WAITING', position: null, ahead: null });
    }
    expect(Date.now(), 'the pre-queue joined before the sale started').toBeLessThan(Date.parse(event.saleStartsAt));

    const placed = await eventually(
      async () => {
        const p = await pass(event.id, early[0]!.token);
        return p?.position ? p : undefined;
      },
      30_000,
      'the shuffle',
    );
    expect(placed.position).toBeGreaterThan(0);
    // FIFO after the start: one by one, each at the back.
    const late: number[] = [];
    for (const b of buyers.slice(1000)) late.push((await join(event.id, b.token)).position!);
    expect(late).toEqual([1001, 1002, 1003, 1004, 1005]);

    const rows = (await passRows(event.id)).filter((r) => early.some((b) => b.id === r.user_id));
    expect(rows.map((r) => r.position).sort((a, b) => a! - b!)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    const joinRank = rows.map((_, i) => i + 1); // rows are in join order
    const rho = rankCorrelation(
      joinRank,
      rows.map((r) => r.position!),
    );
    // Independent orders give |rho| about 1/sqrt(999) = 0.03; joining order kept would give 1.
    expect(Math.abs(rho)).toBeLessThan(0.1);

    // Admission at the configured rate: every pass, in place order, never more than the rate
    // allows (a round may catch up at most one second it was late).
    const all = await eventually(
      async () => {
        const r = await passRows(event.id);
        return r.every((x) => x.admitted_at) ? r : undefined;
      },
      60_000,
      'every pass admitted',
    );
    const byPosition = [...all].sort((a, b) => a.position! - b.position!);
    const times = byPosition.map((r) => new Date(r.admitted_at!).getTime());
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThanOrEqual(times[i - 1]!);
    for (let i = 0; i + 2 * rate < times.length; i++) {
      expect(times[i + 2 * rate]! - times[i]!, `passes ${i + 1}..${i + 1 + 2 * rate}`).toBeGreaterThanOrEqual(
        SECOND - 50,
      );
    }
    const span = (times.at(-1)! - times[0]!) / SECOND;
    expect(span).toBeGreaterThanOrEqual((times.length - 2 * rate) / rate);
  }, 180_000);

  it('refuses bookTicket NOT_ADMITTED without a pass, with a forged or foreign admission, and after admittedUntil; books once admitted', async () => {
    const event = await roomEvent({
      ticketsTotal: 10,
      maxPerUser: 1,
      waitingRoom: { opensMinutesBefore: 30, admitPerSecond: 1000, admissionSeconds: 10 },
    });
    const [alice, bob] = await Promise.all([signUp(sys), signUp(sys)]);
    // A refusal of the request, not a decision of the attempt: the same key is decided once admitted.
    const key = randomUUID();
    expect(await book(event.id, alice.token, null, key)).toMatchObject({ status: 'REJECTED', reason: 'NOT_ADMITTED' });

    const joined = await join(event.id, alice.token);
    expect(joined.position).toBe(1);
    const a = await admitted(event.id, alice.token);
    expect(a.admissionToken).toBeTruthy();
    expect(Date.parse(a.admittedUntil!)).toBeGreaterThan(Date.now());
    // Bob has no admission: Alice's token is bound to Alice, and a forged one verifies for nobody.
    expect(await book(event.id, bob.token, a.admissionToken)).toMatchObject({ reason: 'NOT_ADMITTED' });
    expect(await book(event.id, bob.token, `${bob.user.id}.${event.id}.99999999999999.forged`)).toMatchObject({
      reason: 'NOT_ADMITTED',
    });
    // Through the token (no lookup) and without it (the pass), alike.
    const first = await book(event.id, alice.token, a.admissionToken, key);
    expect(first.status === 'RESERVED' || first.status === 'QUEUED').toBe(true);
    const second = await book(event.id, alice.token);
    expect(second.reason).not.toBe('NOT_ADMITTED');

    await eventually(
      async () => ((await pass(event.id, alice.token))?.state === 'EXPIRED' ? true : undefined),
      20_000,
      'expiry',
    );
    expect(await book(event.id, alice.token, a.admissionToken)).toMatchObject({ reason: 'NOT_ADMITTED' });
    expect(await book(event.id, alice.token)).toMatchObject({ reason: 'NOT_ADMITTED' });
    // Joining again: a new place at the back.
    await join(event.id, bob.token);
    const again = await join(event.id, alice.token);
    expect(again.position).toBe(3);
    expect(again.state === 'WAITING' || again.state === 'ADMITTED').toBe(true);
  }, 60_000);

  it('answers CONFLICT saying when the room opens, and CONFLICT for an event without a room', async () => {
    const later = await roomEvent({
      saleInMs: 3 * 3600 * SECOND,
      startsAt: new Date(Date.now() + 48 * 3600 * SECOND).toISOString(),
      waitingRoom: { opensMinutesBefore: 60, admissionSeconds: 60 },
    });
    const buyer = await signUp(sys);
    const res = await gql(sys.url, JoinWaitingRoomDocument, { eventId: later.id }, buyer.token);
    expect(errorCode(res)).toBe('CONFLICT');
    const opens = (await roomOf(later.id)).waitingRoom!.opensAt;
    expect(opens).toBe(new Date(Date.parse(later.saleStartsAt) - 3600 * SECOND).toISOString());
    expect(res.errors![0]!.message).toContain(opens);
    const plain = await createEvent(sys, admin);
    expect((await roomOf(plain.id)).waitingRoom).toBeNull();
    expect(errorCode(await gql(sys.url, JoinWaitingRoomDocument, { eventId: plain.id }, buyer.token))).toBe('CONFLICT');
    expect(errorCode(await gql(sys.url, JoinWaitingRoomDocument, { eventId: later.id }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(sys.url, JoinWaitingRoomDocument, { eventId: randomUUID() }, buyer.token))).toBe(
      'NOT_FOUND',
    );
  });

  it('gives one pass per buyer however many joins race, over HTTP and graphql-ws', async () => {
    const before = await roomEvent({ saleInMs: 10 * 60 * SECOND });
    const after = await roomEvent();
    const buyer = await signUp(sys);
    const socket = wsClient(sys.wsUrl, buyer.token);
    try {
      for (const event of [before, after]) {
        const passes = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            i % 2
              ? join(event.id, buyer.token)
              : wsRequest(socket, JoinWaitingRoomDocument, { eventId: event.id }).then((r) => r.data!.joinWaitingRoom),
          ),
        );
        expect(new Set(passes.map((p) => p.position)).size).toBe(1);
        expect(await passRows(event.id)).toHaveLength(1);
      }
    } finally {
      await socket.dispose();
    }
  });

  it('closes every open pass at sell-out, pushed live, and reopens from the front when a hold ends; never oversells', async () => {
    const event = await roomEvent({
      ticketsTotal: 2,
      maxPerUser: 1,
      waitingRoom: { opensMinutesBefore: 30, admitPerSecond: 2, admissionSeconds: 120 },
    });
    const buyers = await Promise.all([signUp(sys), signUp(sys), signUp(sys), signUp(sys)]);
    for (const b of buyers) await join(event.id, b.token);
    const sockets = buyers.map((b) => wsClient(sys.wsUrl, b.token));
    try {
      const feeds = sockets.map((s) => subscribe(s, QueuePassUpdatedDocument, { eventId: event.id }));
      // Whoever is admitted first books; the other two keep waiting or are admitted meanwhile.
      const order = await Promise.all(buyers.map((b) => pass(event.id, b.token)));
      const byPlace = buyers
        .map((b, i) => ({ ...b, position: order[i]!.position!, feed: feeds[i]! }))
        .sort((x, y) => x.position - y.position);
      const orders: string[] = [];
      for (const b of byPlace.slice(0, 2)) {
        const p = await b.feed.next((m) => m.data?.queuePassUpdated.state === 'ADMITTED', 15_000);
        const booking = await book(event.id, b.token, p.data!.queuePassUpdated.admissionToken);
        const decided =
          booking.status === 'QUEUED'
            ? await eventually(async () => {
                const r = await gqlOk(sys.url, BookingDocument, { id: booking.id }, b.token);
                return r.booking?.status !== 'QUEUED' ? r.booking : undefined;
              })
            : booking;
        expect(decided!.status).toBe('RESERVED');
        orders.push(decided!.order!.id);
      }
      for (const feed of feeds) await feed.next((m) => m.data?.queuePassUpdated.state === 'CLOSED', 10_000);
      expect((await gqlOk(sys.url, EventWaitingRoomDocument, { id: event.id })).event!.ticketsAvailable).toBe(0);

      // A hold ends (the buyer cancels): the room reopens, and admission goes on from the front.
      await gqlOk(sys.url, CancelOrderDocument, { orderId: orders[0]! }, byPlace[0]!.token);
      const third = byPlace[2]!;
      const reopened = await third.feed.next(
        (m) =>
          m.data?.queuePassUpdated.state !== 'CLOSED' &&
          third.feed.messages.some((x) => x.data?.queuePassUpdated.state === 'CLOSED'),
        15_000,
      );
      expect(['WAITING', 'ADMITTED']).toContain(reopened.data!.queuePassUpdated.state);
      const p = await admitted(event.id, third.token);
      expect((await book(event.id, third.token, p.admissionToken)).reason).not.toBe('NOT_ADMITTED');
      await eventually(async () => ((await stockState(sys, event.id)).pgAvailable === 0 ? true : undefined));
      const state = await stockState(sys, event.id);
      expect(state.held + state.pgAvailable).toBe(state.total);
      expect(state.held).toBeLessThanOrEqual(2);
    } finally {
      for (const s of sockets) await s.dispose();
    }
  }, 90_000);

  it('keeps every place and admission when Redis loses every key (the queue is recorded in Postgres)', async () => {
    const event = await roomEvent({
      saleInMs: 3 * SECOND,
      waitingRoom: { opensMinutesBefore: 30, admitPerSecond: 2, admissionSeconds: 60 },
    });
    const buyers = await Promise.all([signUp(sys), signUp(sys), signUp(sys)]);
    for (const b of buyers) await join(event.id, b.token);
    const placed = await Promise.all(
      buyers.map((b) =>
        eventually(async () => (await pass(event.id, b.token))?.position ?? undefined, 20_000, 'the shuffle'),
      ),
    );
    const redis = sys.app.infra.redis;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${sys.config.namespace}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    const after = await Promise.all(buyers.map((b) => pass(event.id, b.token)));
    expect(after.map((p) => p?.position)).toEqual(placed);
    // Admission goes on: everyone is admitted in the end, in place order.
    for (const b of buyers) await admitted(event.id, b.token, 20_000);
    const rows = [...(await passRows(event.id))].sort((a, b) => a.position! - b.position!);
    const times = rows.map((r) => new Date(r.admitted_at!).getTime());
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  }, 60_000);

  it('keeps every place across a gateway restart, and every gateway pushes to its own subscribers', async () => {
    const event = await roomEvent({ saleInMs: 10 * 60 * SECOND });
    const buyer = await signUp(sys);
    const gateway = await sys.startInstance({ ROLE: 'gateway' });
    const url = `${gateway.url}/graphql`;
    const joined = (await gqlOk(url, JoinWaitingRoomDocument, { eventId: event.id }, buyer.token)).joinWaitingRoom;
    await gateway.stop();
    const next = await sys.startInstance({ ROLE: 'gateway' });
    const again = (await gqlOk(`${next.url}/graphql`, QueuePassDocument, { eventId: event.id }, buyer.token)).queuePass;
    expect(again).toEqual(joined);
    // Placed and admitted as the runner goes on, pushed by the new gateway.
    const started = await roomEvent();
    await gqlOk(`${next.url}/graphql`, JoinWaitingRoomDocument, { eventId: started.id }, buyer.token);
    const socket = wsClient(`ws://127.0.0.1:${next.port}/graphql`, buyer.token);
    try {
      const feed = subscribe(socket, QueuePassUpdatedDocument, { eventId: started.id });
      await feed.next((m) => m.data?.queuePassUpdated.state === 'ADMITTED', 15_000);
    } finally {
      await socket.dispose();
      await next.stop();
    }
  }, 60_000);
});
