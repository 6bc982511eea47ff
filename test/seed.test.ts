import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_ADMIN_PASSWORD, seedDemoData } from '../scripts/seed.js';
import { EventsDocument, SignInDocument } from './generated/graphql.js';
import { gqlOk, startTestSystem, type TestSystem } from './support/system.js';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem();
});
afterAll(async () => {
  await sys.stop();
});

describe('demo data', () => {
  it('creates an admin who can sign in, and upcoming events that include the advertised ones', async () => {
    const summary = await seedDemoData(sys.app);
    expect(summary.admin).toEqual({ email: 'admin@example.test', password: DEMO_ADMIN_PASSWORD, created: true });
    expect(summary.events.length).toBeGreaterThanOrEqual(6);
    expect(summary.events.every((e) => e.created)).toBe(true);

    const { signIn } = await gqlOk(sys.url, SignInDocument, {
      email: summary.admin.email,
      password: DEMO_ADMIN_PASSWORD,
    });
    expect(signIn.user.role).toBe('ADMIN');

    const jazz = await gqlOk(sys.url, EventsDocument, { query: 'jazz' });
    expect(jazz.events.edges.map((e) => e.node.title)).toEqual([expect.stringContaining('Jazz')]);

    const { events } = await gqlOk(sys.url, EventsDocument, { first: 50 });
    const nodes = events.edges.map((e) => e.node);
    expect(nodes).toHaveLength(summary.events.length);
    expect(nodes).toContainEqual(expect.objectContaining({ ticketsTotal: 10_000, status: 'ON_SALE' }));
    const openingSoon = nodes.filter(
      (n) => n.status === 'SCHEDULED' && Date.parse(n.saleStartsAt) - Date.now() < 15 * 60_000,
    );
    expect(openingSoon).toHaveLength(1);
    expect(new Set(nodes.map((n) => n.currency)).size).toBeGreaterThan(1);
  });

  it('creates nothing the second time', async () => {
    const before = (await gqlOk(sys.url, EventsDocument, { first: 50 })).events.totalCount;
    const again = await seedDemoData(sys.app);
    expect(again.admin.created).toBe(false);
    expect(again.events.some((e) => e.created)).toBe(false);
    expect((await gqlOk(sys.url, EventsDocument, { first: 50 })).events.totalCount).toBe(before);
  });
});
