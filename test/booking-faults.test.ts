import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BookingRegistry } from '../src/infra/booking-registry.js';
import { urlsFromEnv } from '../scripts/local-services.js';
import { BookingDecider } from '../src/services/booking/booking-decider.js';
import { startBookingWorker } from '../src/workers/booking.worker.js';
import {
  BookTicketLeanDocument,
  BookingDocument,
  BookingUpdatedDocument,
  StockChangedDocument,
} from './generated/graphql.js';
import { ADMIN_EMAIL, createBuyers, createEvent, signUp, stockState } from './support/fixtures.js';
import { eventually, gql, gqlOk, startTestSystem, subscribe, wsClient, type TestSystem } from './support/system.js';
import { expectConsistentStock } from './support/stock-checks.js';
import { TcpProxy } from './support/tcp-proxy.js';

type Lean = { id: string; status: string; reason: string | null; order: { id: string } | null };

async function decided(sys: TestSystem, booking: Lean, token: string, url = sys.url): Promise<Lean> {
  if (booking.status !== 'QUEUED') return booking;
  return eventually(async () => {
    const { booking: b } = await gqlOk(url, BookingDocument, { id: booking.id }, token);
    return b && b.status !== 'QUEUED' ? b : undefined;
  }, 20_000);
}

describe('a worker that dies mid-batch', () => {
  let sys: TestSystem;
  let admin: string;
  beforeAll(async () => {
    // Gateway only: these tests run the workers themselves.
    sys = await startTestSystem({ ROLE: 'gateway', BOOKING_WAIT_MS: '0' });
    admin = (await signUp(sys, ADMIN_EMAIL)).token;
  });
  afterAll(async () => {
    await sys.stop();
  });

  it('between the Redis step and the Postgres commit leaves nothing half done: a restarted worker decides every attempt exactly once', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 20, maxPerUser: 2 });
    const buyers = await createBuyers(sys, 30);
    const { infra, services } = sys.app;

    let died!: () => void;
    const dead = new Promise<void>((resolve) => (died = resolve));
    const doomed = new BookingDecider(infra.orm, services.gate, services.catalog, 300, {
      afterGate: async () => {
        died();
        throw new Error('worker killed after the Redis step');
      },
    });
    const doomedWorker = await startBookingWorker(infra, doomed, services.registry, { maxBatch: 500 });

    const queued = await Promise.all(
      buyers.map((b) => gqlOk(sys.url, BookTicketLeanDocument, { eventId: event.id, idempotencyKey: 'k' }, b.token)),
    );
    expect(queued.every((q) => q.bookTicket.status === 'QUEUED')).toBe(true);
    await dead;
    await doomedWorker.stop();

    // Redis took tickets that Postgres never saw.
    expect((await services.gate.inspect(event.id)).inflightQty).toBeGreaterThan(0);
    const { n } = (await infra.orm.em.fork().execute<{ n: string }[]>('select count(*) as n from bookings'))[0]!;
    expect(Number(n)).toBe(0);

    const worker = await startBookingWorker(infra, services.decider, services.registry, { maxBatch: 500 });
    try {
      const results = await Promise.all(queued.map((q, i) => decided(sys, q.bookTicket, buyers[i]!.token)));
      expect(results.filter((r) => r.status === 'RESERVED').length).toBe(20);
      expect(results.filter((r) => r.status === 'REJECTED').every((r) => r.reason === 'SOLD_OUT')).toBe(true);
      const rows = await infra.orm.em.fork().execute<{ id: string }[]>('select id from bookings');
      expect(rows.length).toBe(30);
      expect(new Set(rows.map((r) => r.id)).size).toBe(30);
      await expectConsistentStock(sys, event.id);
    } finally {
      await worker.stop();
    }
  });

  it('right after the Postgres commit still gets the hold expiry queued by the redelivery', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 5 });
    const { token } = await signUp(sys);
    const { infra, services } = sys.app;
    // A registry whose first write fails: the batch is committed in Postgres, then redelivered.
    let failures = 1;
    const flaky = Object.create(services.registry) as BookingRegistry;
    flaky.recordDecisions = async (records) => {
      if (failures-- > 0) throw new Error('worker killed after the commit');
      return services.registry.recordDecisions(records);
    };
    const worker = await startBookingWorker(infra, services.decider, flaky, { maxBatch: 500 });
    try {
      const { bookTicket } = await gqlOk(
        sys.url,
        BookTicketLeanDocument,
        { eventId: event.id, idempotencyKey: 'x' },
        token,
      );
      const booking = await decided(sys, bookTicket, token);
      expect(booking.status).toBe('RESERVED');
      const expiry = await infra.nats.jsm.streams.info(infra.nats.names.streams.expiry);
      expect(expiry.state.messages).toBeGreaterThanOrEqual(1);
      const last = await infra.nats.jsm.streams.getMessage(infra.nats.names.streams.expiry, {
        last_by_subj: infra.nats.names.jobs.holdExpiry,
      });
      expect(last?.json<{ orderIds: string[] }>().orderIds).toContain(booking.order!.id);
    } finally {
      await worker.stop();
    }
  });

  it('queues an attempt again when its message is lost, so QUEUED always reaches a decision', async () => {
    const lossy = await startTestSystem({
      ROLE: 'gateway',
      BOOKING_WAIT_MS: '0',
      BOOKING_DECISION_DEADLINE_MS: '300',
      SWEEP_INTERVAL_MS: '200',
    });
    try {
      const admin = (await signUp(lossy, ADMIN_EMAIL)).token;
      const event = await createEvent(lossy, admin, { ticketsTotal: 5 });
      const { token } = await signUp(lossy);
      const { bookTicket } = await gqlOk(
        lossy.url,
        BookTicketLeanDocument,
        { eventId: event.id, idempotencyKey: 'lost' },
        token,
      );
      expect(bookTicket.status).toBe('QUEUED');
      // A single-node JetStream crash can lose an acknowledged message: drop it on purpose.
      await lossy.app.infra.nats.jsm.streams.purge(lossy.app.infra.nats.names.streams.bookings);
      const client = wsClient(lossy.wsUrl, token);
      const updates = subscribe(client, BookingUpdatedDocument, { id: bookTicket.id });

      await lossy.startInstance({ ROLE: 'worker' });
      const final = await updates.next((m) => m.data?.bookingUpdated.status !== 'QUEUED', 20_000);
      expect(final.data?.bookingUpdated.status).toBe('RESERVED');
      expect((await decided(lossy, bookTicket, token)).status).toBe('RESERVED');
      await client.dispose();
    } finally {
      await lossy.stop();
    }
  });
});

describe('Redis losing every key in the middle of a sale', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({ BOOKING_WAIT_MS: '5000', BOOKING_RATE_PER_SECOND: '50' });
  });
  afterAll(async () => {
    await sys.stop();
  });

  it('rebuilds stock and limits from Postgres and never oversells', async () => {
    const admin = (await signUp(sys, ADMIN_EMAIL)).token;
    const event = await createEvent(sys, admin, { ticketsTotal: 50, maxPerUser: 2 });
    const buyers = await createBuyers(sys, 120);
    const book = (i: number, key: string, quantity = 1) =>
      gqlOk(
        sys.url,
        BookTicketLeanDocument,
        { eventId: event.id, quantity, idempotencyKey: key },
        buyers[i]!.token,
      ).then((r) => decided(sys, r.bookTicket, buyers[i]!.token));

    const early = await Promise.all(buyers.slice(0, 20).map((_, i) => book(i, 'early')));
    expect(early.every((r) => r.status === 'RESERVED')).toBe(true);

    // Redis restarted empty (only this test's keys, so other test files are unaffected).
    const { redis } = sys.app.infra;
    const keys = await redis.keys(`${sys.config.namespace}:*`);
    await redis.del(...keys);

    const [retried, overLimit, rest] = await Promise.all([
      Promise.all(buyers.slice(0, 20).map((_, i) => book(i, 'early'))),
      book(0, 'greedy', 2),
      Promise.all(buyers.slice(20).map((_, i) => book(20 + i, 'late'))),
    ]);
    expect(retried).toEqual(early); // the same bookings, not new ones
    expect(overLimit).toMatchObject({ status: 'REJECTED', reason: 'LIMIT_EXCEEDED' });
    expect(rest.filter((r) => r.status === 'RESERVED').length).toBe(30);

    const state = await expectConsistentStock(sys, event.id);
    expect(state.held).toBe(50);
    expect(state.pgAvailable).toBe(0);
  });
});

describe('several gateways and workers', () => {
  it('shows every gateway the same final count', async () => {
    const sys = await startTestSystem({ ROLE: 'gateway', BOOKING_WAIT_MS: '5000', BOOKING_RATE_PER_SECOND: '50' });
    try {
      const second = await sys.startInstance({ ROLE: 'gateway' });
      await sys.startInstance({ ROLE: 'worker' });
      await sys.startInstance({ ROLE: 'worker' });
      const urls = [sys.url, `${second.url}/graphql`];
      const admin = (await signUp(sys, ADMIN_EMAIL)).token;
      const event = await createEvent(sys, admin, { ticketsTotal: 60, maxPerUser: 1 });

      const watchers = [wsClient(sys.wsUrl), wsClient(`ws://127.0.0.1:${second.port}/graphql`)];
      const feeds = watchers.map((w) => subscribe(w, StockChangedDocument, { eventId: event.id }));
      await Promise.all(feeds.map((f) => f.next()));

      const buyers = await createBuyers(sys, 200);
      const results = await Promise.all(
        buyers.map(async (b, i) => {
          const url = urls[i % 2]!;
          const res = await gqlOk(url, BookTicketLeanDocument, { eventId: event.id, idempotencyKey: 'g' }, b.token);
          return decided(sys, res.bookTicket, b.token, url);
        }),
      );
      expect(results.filter((r) => r.status === 'RESERVED').length).toBe(60);
      for (const feed of feeds) {
        const last = await feed.next((m) => m.data?.stockChanged.ticketsAvailable === 0);
        expect(last.data?.stockChanged.status).toBe('SOLD_OUT');
      }
      await expectConsistentStock(sys, event.id);
      // dispose() is typed `void | Promise<void>` (graphql-ws returns a promise): wait for each either way.
      await Promise.all(watchers.map((w) => Promise.resolve(w.dispose())));
    } finally {
      await sys.stop();
    }
  });
});

describe('a dependency that is down', () => {
  const real = urlsFromEnv();
  let sys: TestSystem;
  const proxies: Record<'postgres' | 'redis' | 'nats', TcpProxy> = {
    postgres: TcpProxy.forUrl(real.databaseUrl),
    redis: TcpProxy.forUrl(real.redisUrl),
    nats: TcpProxy.forUrl(real.natsUrl),
  };
  let admin: string;

  beforeAll(async () => {
    await Promise.all(Object.values(proxies).map((p) => p.start()));
    // DATABASE_URL names the server behind the proxy; the system makes (and drops) its own database.
    sys = await startTestSystem({
      DATABASE_URL: proxies.postgres.rewrite(real.databaseUrl),
      REDIS_URL: proxies.redis.rewrite(real.redisUrl),
      NATS_URL: proxies.nats.rewrite(real.natsUrl),
      BOOKING_WAIT_MS: '5000',
    });
    admin = (await signUp(sys, ADMIN_EMAIL)).token;
  });
  afterAll(async () => {
    for (const p of Object.values(proxies)) p.up();
    await sys.stop();
    await Promise.all(Object.values(proxies).map((p) => p.stop()));
  });

  it.each(['redis', 'nats', 'postgres'] as const)(
    'answers UNAVAILABLE and sells nothing while %s is unreachable',
    async (dep) => {
      const event = await createEvent(sys, admin, { ticketsTotal: 10 });
      const { token } = await signUp(sys);
      const { health } = sys.app.infra;
      proxies[dep].down();
      try {
        await eventually(() => (health.down().includes(dep) ? true : undefined));
        const res = await gql(
          sys.url,
          BookTicketLeanDocument,
          { eventId: event.id, idempotencyKey: `during-${dep}` },
          token,
        );
        expect(res.errors?.[0]?.extensions?.['code']).toBe('UNAVAILABLE');
      } finally {
        proxies[dep].up();
      }
      await eventually(() => (health.allUp() ? true : undefined), 15_000);
      const state = await stockState(sys, event.id);
      expect(state.held).toBe(0);
      expect(state.pgAvailable).toBe(10);
      // And it sells again once the dependency is back.
      const after = await gqlOk(
        sys.url,
        BookTicketLeanDocument,
        { eventId: event.id, idempotencyKey: `after-${dep}` },
        token,
      );
      expect(after.bookTicket.status).toBe('RESERVED');
    },
  );

  it('answers a sold-out event UNAVAILABLE with Redis unreachable: a SOLD_OUT it cannot record could be contradicted later', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 1, maxPerUser: 1 });
    const [winner, loser] = await createBuyers(sys, 2);
    await gqlOk(sys.url, BookTicketLeanDocument, { eventId: event.id, idempotencyKey: 'w' }, winner!.token);
    const { stock } = sys.app.services;
    await eventually(() => (stock.isSoldOut(event.id) && !stock.mayHold(event.id, loser!.id) ? true : undefined));
    const attempt = () =>
      gql(sys.url, BookTicketLeanDocument, { eventId: event.id, idempotencyKey: 'l' }, loser!.token);
    proxies.redis.down();
    try {
      const res = await attempt();
      expect(res.errors?.[0]?.extensions?.['code']).toBe('UNAVAILABLE');
    } finally {
      proxies.redis.up();
    }
    await eventually(() => (sys.app.infra.health.allUp() ? true : undefined), 15_000);
    const after = await attempt();
    expect(after.data?.bookTicket).toMatchObject({ status: 'REJECTED', reason: 'SOLD_OUT' });
  });
});
