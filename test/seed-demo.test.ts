import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_ADMIN_PASSWORD } from '../scripts/seed.js';
import { seedDeployment } from '../scripts/seed-demo.js';
import { EventsDocument, SignInDocument } from './generated/graphql.js';
import { gql, gqlOk, startTestSystem, type TestSystem } from './support/system.js';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem();
});
afterAll(async () => {
  await sys.stop();
});

/** The environment of a deployment of that test system, as docker compose gives it to its seed service. */
function deploymentEnv(more: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'development',
    DATABASE_URL: sys.config.databaseUrl,
    REDIS_URL: sys.config.redisUrl,
    NATS_URL: sys.config.natsUrl,
    NAMESPACE: sys.config.namespace,
    JWT_SECRET: sys.config.auth.jwtSecret,
    MIGRATE_ON_START: 'false',
    LOG_LEVEL: 'warn',
    ...more,
  };
}

describe('seeding a running deployment (docker compose’s seed service)', () => {
  it('refuses production and writes nothing: the demo admin’s password is public', async () => {
    expect(await seedDeployment(deploymentEnv({ NODE_ENV: 'production' }))).toBeNull();
    const res = await gql(sys.url, SignInDocument, { email: 'admin@example.com', password: DEMO_ADMIN_PASSWORD });
    expect(res.errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
    expect((await gqlOk(sys.url, EventsDocument, { first: 50 })).events.totalCount).toBe(0);
  });

  it('creates the demo admin (ADMIN without ADMIN_EMAILS) and events that the running app serves, once', async () => {
    const summary = await seedDeployment(deploymentEnv());
    expect(summary?.admin).toEqual({ email: 'admin@example.com', password: DEMO_ADMIN_PASSWORD, created: true });
    const { signIn } = await gqlOk(sys.url, SignInDocument, {
      email: 'admin@example.com',
      password: DEMO_ADMIN_PASSWORD,
    });
    expect(signIn.user.role).toBe('ADMIN');
    const { events } = await gqlOk(sys.url, EventsDocument, { first: 50 });
    expect(events.totalCount).toBe(summary?.events.length);
    expect(events.edges.map((e) => e.node.title)).toContain('Late Night Jazz: The Marlowe Quartet');

    const again = await seedDeployment(deploymentEnv());
    expect(again?.admin.created).toBe(false);
    expect(again?.events.some((e) => e.created)).toBe(false);
  });
});
