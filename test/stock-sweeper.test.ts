import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys } from '../src/infra/redis.js';
import { startStockSweeper } from '../src/workers/stock.sweeper.js';
import { BookTicketLeanDocument, StockChangedDocument } from './generated/graphql.js';
import { ADMIN_EMAIL, createEvent, signUp, stockState } from './support/fixtures.js';
import { gqlOk, startTestSystem, subscribe, wsClient, type TestSystem } from './support/system.js';

let sys: TestSystem;
let admin: string;
let sweeper: ReturnType<typeof startStockSweeper>;

beforeAll(async () => {
  // The app's own sweep is slowed down so that this test decides when a round runs.
  sys = await startTestSystem({ SWEEP_INTERVAL_MS: '3600000' });
  admin = (await signUp(sys, ADMIN_EMAIL)).token;
  sweeper = startStockSweeper(sys.app.infra, sys.app.services.gate, sys.app.services.decider);
});
afterAll(async () => {
  await sweeper.stop();
  await sys.stop();
});

const gateKey = (eventId: string, name: string) => `${redisKeys(sys.config.namespace).eventTag(eventId)}:${name}`;
const stockKey = (eventId: string) => gateKey(eventId, 'stock');

describe('the stock sweep', () => {
  it('loads an event into Redis before its sale opens', async () => {
    const soon = await createEvent(sys, admin, {
      ticketsTotal: 300,
      saleStartsAt: new Date(Date.now() + 5 * 60_000).toISOString(),
    });
    const later = await createEvent(sys, admin, { saleStartsAt: new Date(Date.now() + 3 * 3600_000).toISOString() });
    expect(await sys.app.services.gate.stock(soon.id)).toBeNull();
    await sweeper.runNow();
    expect(await sys.app.services.gate.stock(soon.id)).toBe(300);
    expect(await sys.app.services.gate.stock(later.id)).toBeNull();
  });

  it('makes Redis equal to Postgres again when nothing is in flight, and tells subscribers', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 10 });
    const buyer = await signUp(sys);
    await gqlOk(sys.url, BookTicketLeanDocument, { eventId: event.id, quantity: 2, idempotencyKey: 'a' }, buyer.token);
    const client = wsClient(sys.wsUrl);
    const feed = subscribe(client, StockChangedDocument, { eventId: event.id });
    await feed.next();

    // A crash between a Postgres commit and its Redis update leaves Redis wrong.
    await sys.app.infra.redis.set(stockKey(event.id), 7);
    await sweeper.runNow();
    const state = await stockState(sys, event.id);
    expect(state.redis.stock).toBe(8);
    expect(state.redis.stock).toBe(state.pgAvailable);
    expect(state.redis.held).toEqual(state.heldByUser);
    await feed.next((m) => m.data?.stockChanged.ticketsAvailable === 8);
    await client.dispose();
  });

  it('leaves Redis alone while a reservation is in flight', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 10 });
    const buyer = await signUp(sys);
    await gqlOk(sys.url, BookTicketLeanDocument, { eventId: event.id, idempotencyKey: 'b' }, buyer.token);
    const inflightKey = gateKey(event.id, 'inflightqty');
    await sys.app.infra.redis.set(inflightKey, 1);
    await sys.app.infra.redis.set(stockKey(event.id), 5);
    await sweeper.runNow();
    expect(await sys.app.services.gate.stock(event.id)).toBe(5);
    await sys.app.infra.redis.set(inflightKey, 0);
    await sweeper.runNow();
    expect(await sys.app.services.gate.stock(event.id)).toBe(9);
  });

  it('rebuilds the buyers held in Redis when their number differs from Postgres, and only then', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 10 });
    const buyers = [await signUp(sys), await signUp(sys)];
    for (const [i, b] of buyers.entries())
      await gqlOk(sys.url, BookTicketLeanDocument, { eventId: event.id, idempotencyKey: `h${i}` }, b.token);
    const heldKey = gateKey(event.id, 'held');
    const [first] = Object.keys((await stockState(sys, event.id)).heldByUser);

    // Stock and version agree, so a round leaves Redis as it is...
    const before = await sys.app.services.gate.summary(event.id);
    expect(before).toMatchObject({ stock: 8, inflightQty: 0, holders: 2 });
    await sweeper.runNow();
    expect(await sys.app.services.gate.summary(event.id)).toEqual(before);

    // ...until a buyer's count is lost: then the whole hash is rebuilt from Postgres.
    await sys.app.infra.redis.hdel(heldKey, first!);
    await sweeper.runNow();
    const state = await stockState(sys, event.id);
    expect(state.redis.held).toEqual(state.heldByUser);
    expect(Object.keys(state.redis.held)).toHaveLength(2);
  });
});
