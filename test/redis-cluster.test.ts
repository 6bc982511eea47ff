import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type RedisClusterNodes } from '../scripts/redis-cluster.js';
import { isCluster, redisKeys } from '../src/infra/redis.js';
import { BookTicketLeanDocument, BookingDocument } from './generated/graphql.js';
import { ADMIN_EMAIL, createBuyers, createEvent, signUp, stockState } from './support/fixtures.js';
import { eventually, gql, gqlOk, startTestSystem, type TestSystem } from './support/system.js';
import { expectConsistentStock } from './support/stock-checks.js';

type Lean = { id: string; status: string; reason: string | null };

/**
 * The booking pipeline on a real Redis Cluster (3 primaries, 3 replicas of this machine's
 * redis-server, on free ports): every script runs on one slot, and a primary killed mid-sale
 * fails over without selling a ticket twice; the sweep then makes Redis equal to Postgres again.
 */
describe('on a Redis Cluster', () => {
  let dir: string;
  let redis: RedisClusterNodes;
  let sys: TestSystem;
  let admin: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
    redis = await startRedisCluster(dir);
    sys = await startTestSystem({ REDIS_URL: redis.url, BOOKING_WAIT_MS: '5000', SWEEP_INTERVAL_MS: '500' });
    admin = (await signUp(sys, ADMIN_EMAIL)).token;
  }, 60_000);
  afterAll(async () => {
    await sys?.stop();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  const book = async (eventId: string, token: string, key: string): Promise<Lean> => {
    const res = await gql(sys.url, BookTicketLeanDocument, { eventId, idempotencyKey: key }, token);
    if (res.errors?.length) return { id: '', status: String(res.errors[0]!.extensions?.['code']), reason: null };
    return res.data!.bookTicket;
  };

  it('sells an event exactly out, with booking records spread over the shards', async () => {
    expect(isCluster(sys.app.infra.redis)).toBe(true);
    const event = await createEvent(sys, admin, { ticketsTotal: 20, maxPerUser: 1 });
    const buyers = await createBuyers(sys, 30);
    const answers = await Promise.all(buyers.map((b) => book(event.id, b.token, 'k')));
    expect(answers.filter((a) => a.status === 'RESERVED')).toHaveLength(20);
    expect(answers.filter((a) => a.status === 'REJECTED')).toHaveLength(10);
    // A retry answers from the record in the buyer's group; booking(id) finds it there too.
    const again = await book(event.id, buyers[0]!.token, 'k');
    expect(again).toEqual(answers[0]);
    const { booking } = await gqlOk(sys.url, BookingDocument, { id: answers[0]!.id }, buyers[0]!.token);
    expect(booking?.status).toBe(answers[0]!.status);
    // The registry's groups hash to more than one slot, so more than one primary holds them.
    const keys = redisKeys(sys.config.namespace);
    const slots = new Set(
      await Promise.all(
        [0, 1, 2, 3, 4, 5, 6, 7].map(async (g) =>
          sys.app.infra.redis.call('cluster', 'keyslot', keys.pendingBookings(g)),
        ),
      ),
    );
    expect(slots.size).toBeGreaterThan(1);
    await expectConsistentStock(sys, event.id);
  });

  it('fails over when the primary of the event slot dies mid-sale: no ticket is sold twice, and Redis equals Postgres after the sweep', async () => {
    const total = 40;
    const event = await createEvent(sys, admin, { ticketsTotal: total, maxPerUser: 1 });
    const buyers = await createBuyers(sys, 80);
    const slot = Number(
      await sys.app.infra.redis.call(
        'cluster',
        'keyslot',
        `${redisKeys(sys.config.namespace).eventTag(event.id)}:stock`,
      ),
    );
    const owner = await slotOwner(redis, slot);

    // Half the buyers, then the kill while the other half is in the air, then everyone retries
    // (same key) until answered: an UNAVAILABLE during the failover is a refusal, never a sale.
    const first = await Promise.all(buyers.slice(0, 40).map((b) => book(event.id, b.token, 'k')));
    const second = Promise.all(buyers.slice(40).map((b) => book(event.id, b.token, 'k')));
    await redis.kill(owner);
    const answered = [...first, ...(await second)];
    await redis.waitHealthy(60_000);
    expect(await redis.primaries()).not.toContain(owner);

    const final = await Promise.all(
      buyers.map(async (b, i) =>
        answered[i]!.status === 'RESERVED' || answered[i]!.status === 'REJECTED'
          ? answered[i]!
          : await eventually(async () => {
              const a = await book(event.id, b.token, 'k');
              return a.status === 'RESERVED' || a.status === 'REJECTED' ? a : undefined;
            }, 30_000),
      ),
    );

    // Postgres holds the truth: never more tickets than the event has, and every order is one buyer's one ticket.
    const state = await stockState(sys, event.id);
    expect(state.held + state.pgAvailable).toBe(total);
    expect(state.held).toBeLessThanOrEqual(total);
    expect(Object.values(state.heldByUser).every((n) => n === 1)).toBe(true);
    expect(final.filter((a) => a.status === 'RESERVED').length).toBeLessThanOrEqual(state.held);

    // The sweep repairs whatever the failover lost (Redis replicates asynchronously).
    await eventually(async () => {
      const s = await stockState(sys, event.id);
      const agrees =
        s.redis.stock === s.pgAvailable &&
        s.redis.inflightQty === 0 &&
        JSON.stringify(sortKeys(s.redis.held)) === JSON.stringify(sortKeys(s.heldByUser));
      return agrees ? true : undefined;
    }, 30_000);
    await expectConsistentStock(sys, event.id);
  }, 150_000);
});

function sortKeys(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

/** The port of the primary serving a slot now. */
async function slotOwner(redis: RedisClusterNodes, slot: number): Promise<number> {
  const { stdout: out } = await promisify(execFile)('redis-cli', ['-p', String(redis.ports[0]), 'cluster', 'slots']);
  // redis-cli prints each range as: start, end, then host, port, id per node (primary first).
  const lines = out.split('\n').map((l) => l.trim());
  for (let i = 0; i + 3 < lines.length; i++) {
    const start = Number(lines[i]);
    const end = Number(lines[i + 1]);
    if (
      /^\d+$/.test(lines[i]!) &&
      /^\d+$/.test(lines[i + 1]!) &&
      lines[i + 2] === '127.0.0.1' &&
      slot >= start &&
      slot <= end
    ) {
      return Number(lines[i + 3]);
    }
  }
  throw new Error(`no owner found for slot ${slot}`);
}
