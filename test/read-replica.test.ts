import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgresPair, type PostgresPair } from '../scripts/postgres-pair.js';
import type { App } from '../src/app.js';
import {
  EventsDocument,
  MyOrdersDocument,
  OrderUpdatedDocument,
  PayOrderDocument,
  SimulatePaymentDocument,
} from './generated/graphql.js';
import { ADMIN_EMAIL, createEvent, signUp } from './support/fixtures.js';
import { bookOrder, sql } from './support/payment-fixtures.js';
import { expectConsistentStock } from './support/stock-checks.js';
import { eventually, gqlOk, startTestSystem, subscribe, wsClient, type TestSystem } from './support/system.js';

/**
 * The app on a private Postgres primary with a streaming replica (this machine's Postgres 15, free
 * ports, data in a temporary directory) and DATABASE_READ_URL set to the replica. Pausing the
 * replica's replay makes it visibly stale, which shows which reads it serves: browsing reads it,
 * a buyer's own writes never hide behind it, and when it stops everything still answers and decides.
 */
describe('with a streaming read replica', () => {
  let dir: string;
  let pair: PostgresPair;
  let sys: TestSystem;
  let admin: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pg-replica-'));
    pair = await startPostgresPair(dir);
    sys = await startTestSystem({
      DATABASE_URL: pair.primaryUrl,
      DATABASE_READ_URL: pair.replicaUrl,
      BOOKING_WAIT_MS: '5000',
      HOLD_SECONDS: '120',
    });
    admin = (await signUp(sys, ADMIN_EMAIL)).token;
    await replicaInUse(sys.app);
  }, 60_000);
  afterAll(async () => {
    await sys?.stop();
    await pair?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  /** One statement on the replica's copy of the system's database, on a connection of its own. */
  async function onReplica<T extends pg.QueryResultRow>(query: string, params: unknown[] = []): Promise<T[]> {
    const client = new pg.Client({ connectionString: sys.config.databaseRead.url });
    await client.connect();
    try {
      return (await client.query<T>(query, params)).rows;
    } finally {
      await client.end();
    }
  }

  /** Runs `work` with the replica's replay paused: it keeps what it had, the primary moves on. */
  async function whilePaused<T>(work: () => Promise<T>): Promise<T> {
    await onReplica('select pg_wal_replay_pause()');
    try {
      return await work();
    } finally {
      await onReplica('select pg_wal_replay_resume()');
    }
  }

  /** Waits until the replica has replayed everything the primary has written so far. */
  async function caughtUp(): Promise<void> {
    const [primary] = await sql<{ lsn: string }>(sys.app, `select pg_current_wal_lsn()::text as lsn`);
    const lsn = primary!.lsn;
    await eventually(
      async () => {
        const [row] = await onReplica<{ done: boolean }>(`select pg_last_wal_replay_lsn() >= $1::pg_lsn as done`, [
          lsn,
        ]);
        return row?.done ? true : undefined;
      },
      10_000,
      'replica caught up',
    );
  }

  const search = (word: string, token?: string, url = sys.url) =>
    gqlOk(url, EventsDocument, { query: word }, token).then((r) => r.events);
  const myOrders = (token: string) => gqlOk(sys.url, MyOrdersDocument, {}, token).then((r) => r.myOrders);
  const uniqueWord = () => `replica${randomBytes(4).toString('hex')}`;

  it('serves browsing from the replica: an event created while replay is paused is missing until it resumes', async () => {
    const word = uniqueWord();
    const servedBefore = await readsServedBy(sys.app, 'replica');
    const event = await whilePaused(async () => {
      const created = await createEvent(sys, admin, { title: `Hidden ${word}` });
      // Anonymous search and listing read the replica, which has not replayed the new event.
      expect((await search(word)).totalCount).toBe(0);
      const listing = await gqlOk(sys.url, EventsDocument, { first: 100 });
      expect(listing.events.edges.map((e) => e.node.id)).not.toContain(created.id);
      // Its creator reads their own write: from the primary, as the replica is behind them.
      expect((await search(word, admin)).edges.map((e) => e.node.id)).toEqual([created.id]);
      return created;
    });
    expect(await readsServedBy(sys.app, 'replica')).toBeGreaterThan(servedBefore);
    const found = await eventually(async () => {
      const page = await search(word);
      return page.totalCount === 1 ? page : undefined;
    });
    expect(found.edges[0]!.node).toMatchObject({ id: event.id, title: `Hidden ${word}`, ticketsAvailable: 100 });
  });

  it("shows a buyer's own new order and each payment step in myOrders at once, while the replica lags", async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 3, maxPerUser: 1 });
    const buyer = await signUp(sys);
    const ownWritesBefore = await readsServedBy(sys.app, 'own-write');

    const orderId = await whilePaused(async () => {
      const id = await bookOrder(sys, buyer.token, event.id);
      expect(await onReplica(`select id from orders where id = $1`, [id])).toEqual([]);
      const page = await myOrders(buyer.token);
      expect(page.totalCount).toBe(1);
      expect(page.edges.map((e) => e.node)).toMatchObject([{ id, status: 'UNPAID' }]);
      return id;
    });
    await caughtUp();

    // The replica has the UNPAID order now; each later step must still be read back at once.
    await whilePaused(async () => {
      await gqlOk(sys.url, PayOrderDocument, { orderId }, buyer.token);
      expect(await onReplica(`select status from orders where id = $1`, [orderId])).toEqual([{ status: 'UNPAID' }]);
      expect((await myOrders(buyer.token)).edges[0]!.node).toMatchObject({ id: orderId, status: 'PAYING' });

      // The live message leaves after the position is recorded: a client reacting to it reads it back.
      const ws = wsClient(sys.wsUrl, buyer.token);
      const updates = subscribe(ws, OrderUpdatedDocument, { id: orderId });
      await updates.next((m) => m.data?.orderUpdated.status === 'PAYING');
      await gqlOk(sys.url, SimulatePaymentDocument, { orderId, outcome: 'SUCCEED' }, buyer.token);
      await updates.next((m) => m.data?.orderUpdated.status === 'SUCCEEDED');
      expect((await myOrders(buyer.token)).edges[0]!.node).toMatchObject({ id: orderId, status: 'SUCCEEDED' });
      await ws.dispose();
    });
    expect(await readsServedBy(sys.app, 'own-write')).toBeGreaterThanOrEqual(ownWritesBefore + 3);
    await expectConsistentStock(sys, event.id);
  });

  it('stops using a replica that falls further behind than DATABASE_READ_MAX_LAG_MS', async () => {
    const strict = await sys.startInstance({ ROLE: 'gateway', DATABASE_READ_MAX_LAG_MS: '1000' });
    const strictUrl = `${strict.url}/graphql`;
    await replicaInUse(strict);
    const word = uniqueWord();
    await whilePaused(async () => {
      await createEvent(sys, admin, { title: `Late ${word}` });
      // Seconds after the pause the replica is too far behind for this instance: it reads the primary.
      await eventually(() => (strict.infra.health.isUp('postgres-replica') ? undefined : true), 10_000, 'lag noticed');
      expect(strict.infra.health.degraded()).toEqual(['postgres-replica']);
      expect((await search(word, undefined, strictUrl)).totalCount).toBe(1);
    });
    await replicaInUse(strict);
  });

  it('falls back to the primary when the replica stops: browsing answers, readiness stays 200, and booking and paying decide as before', async () => {
    const word = uniqueWord();
    const fallbacksBefore = await readsServedBy(sys.app, 'fallback');
    // With the probe held, the last verdict still says "up": the first read finds out by itself.
    sys.app.infra.health.stop();
    let event: { id: string };
    try {
      await pair.stopReplica();
      event = await createEvent(sys, admin, { title: `After ${word}`, ticketsTotal: 2, maxPerUser: 1 });
      expect((await search(word)).totalCount).toBe(1);
      expect(await readsServedBy(sys.app, 'fallback')).toBe(fallbacksBefore + 1);
      expect(sys.app.infra.health.isUp('postgres-replica')).toBe(false);
    } finally {
      sys.app.infra.health.start();
    }

    const ready = await fetch(`${sys.app.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', down: [], degraded: ['postgres-replica'] });

    const buyers = [await signUp(sys), await signUp(sys)];
    const orderIds = await Promise.all(buyers.map((b) => bookOrder(sys, b.token, event.id)));
    await gqlOk(sys.url, PayOrderDocument, { orderId: orderIds[0]! }, buyers[0]!.token);
    const paid = await gqlOk(
      sys.url,
      SimulatePaymentDocument,
      { orderId: orderIds[0]!, outcome: 'SUCCEED' },
      buyers[0]!.token,
    );
    expect(paid.simulatePayment.status).toBe('SUCCEEDED');
    expect((await myOrders(buyers[0]!.token)).edges.map((e) => e.node.status)).toEqual(['SUCCEEDED']);
    expect((await myOrders(buyers[1]!.token)).edges.map((e) => e.node.status)).toEqual(['UNPAID']);
    // Sold out: the third buyer is refused on the primary's stock, replica or not.
    const third = await signUp(sys);
    await expect(bookOrder(sys, third.token, event.id)).rejects.toThrow(/SOLD_OUT/);
    await expectConsistentStock(sys, event.id);
  });
});

/** Reads of the kind that may be stale, served by `side` so far (see DatabaseReads). */
async function readsServedBy(app: App, side: string): Promise<number> {
  const { values } = await app.infra.metrics.databaseReads.get();
  return values.find((v) => v.labels.side === side)?.value ?? 0;
}

/** Waits until the instance's health probe has found the replica usable. */
function replicaInUse(app: App): Promise<true> {
  return eventually(() => (app.infra.health.isUp('postgres-replica') ? true : undefined), 15_000, 'replica in use');
}
