import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsCluster, type NatsClusterNodes } from '../scripts/nats-cluster.js';
import { BookTicketLeanDocument, BookingDocument } from './generated/graphql.js';
import { ADMIN_EMAIL, createBuyers, createEvent, signUp, stockState } from './support/fixtures.js';
import { eventually, gql, gqlOk, startTestSystem, type TestSystem } from './support/system.js';
import { expectConsistentStock } from './support/stock-checks.js';

type Lean = { id: string; status: string; reason: string | null };

/**
 * The booking pipeline on a 3-node NATS JetStream cluster (this machine's nats-server, free ports,
 * own store directories) with every stream replicated 3 times: the node leading the bookings stream
 * is killed mid-burst, and every attempt answered QUEUED is still decided, exactly once.
 */
describe('on a 3-node NATS JetStream cluster', () => {
  let dir: string;
  let nats: NatsClusterNodes;
  let sys: TestSystem;
  let admin: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nats-cluster-'));
    nats = await startNatsCluster(dir);
    sys = await startTestSystem({
      NATS_URL: nats.url,
      JETSTREAM_REPLICAS: '3',
      BOOKING_WAIT_MS: '0',
      SWEEP_INTERVAL_MS: '500',
      BOOKING_DECISION_DEADLINE_MS: '3000',
    });
    admin = (await signUp(sys, ADMIN_EMAIL)).token;
  }, 60_000);
  afterAll(async () => {
    await sys?.stop();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('replicates every stream on all three nodes', async () => {
    const { jsm, names } = sys.app.infra.nats;
    for (const stream of Object.values(names.streams)) {
      const info = await jsm.streams.info(stream);
      expect(info.config.num_replicas).toBe(3);
      expect((info.cluster?.replicas ?? []).length).toBe(2);
    }
  });

  it('decides every attempt answered QUEUED when the bookings stream leader dies mid-burst', async () => {
    const total = 30;
    const event = await createEvent(sys, admin, { ticketsTotal: total, maxPerUser: 1 });
    const buyers = await createBuyers(sys, 60);
    const { jsm, names } = sys.app.infra.nats;
    const leader = (await jsm.streams.info(names.streams.bookings)).cluster?.leader;
    const leaderPort = nats.ports[Number(/^n(\d+)$/.exec(leader ?? '')?.[1])];
    expect(leaderPort).toBeDefined();

    const book = async (token: string): Promise<Lean | null> => {
      const res = await gql(sys.url, BookTicketLeanDocument, { eventId: event.id, idempotencyKey: 'k' }, token);
      return res.errors?.length ? null : res.data!.bookTicket;
    };
    const first = await Promise.all(buyers.slice(0, 30).map((b) => book(b.token)));
    const second = Promise.all(buyers.slice(30).map((b) => book(b.token)));
    await nats.kill(leaderPort!);
    const answers = [...first, ...(await second)];
    await nats.waitHealthy();

    // Every attempt that got an answer (QUEUED or decided) ends decided; the refused ones (UNAVAILABLE) changed nothing.
    const decided = await Promise.all(
      answers.map(async (a, i) => {
        if (!a) return null;
        return eventually(
          async () => {
            const { booking } = await gqlOk(sys.url, BookingDocument, { id: a.id }, buyers[i]!.token);
            return booking && booking.status !== 'QUEUED' ? booking : undefined;
          },
          30_000,
          `a decision for ${a.id}`,
        );
      }),
    );
    expect(answers.filter((a) => a).length).toBeGreaterThan(0);
    const reserved = decided.filter((d) => d?.status === 'RESERVED').length;
    const state = await stockState(sys, event.id);
    expect(state.held).toBe(reserved);
    expect(state.held + state.pgAvailable).toBe(total);
    await eventually(async () => ((await stockState(sys, event.id)).redis.inflightQty === 0 ? true : undefined));
    await expectConsistentStock(sys, event.id);
  });
});
