import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { urlsFromEnv } from '../scripts/local-services.js';
import { eventually, startTestSystem, type TestSystem } from './support/system.js';
import { TcpProxy } from './support/tcp-proxy.js';

/**
 * The operator endpoints. Postgres, Redis and NATS are reached through TCP proxies, so a test can
 * cut the network to one of them and heal it again.
 */
const real = urlsFromEnv();
const proxies = {
  postgres: TcpProxy.forUrl(real.databaseUrl),
  redis: TcpProxy.forUrl(real.redisUrl),
  nats: TcpProxy.forUrl(real.natsUrl),
};
let sys: TestSystem;
let base: string;

beforeAll(async () => {
  await Promise.all(Object.values(proxies).map((p) => p.start()));
  // The system makes its own database on the server behind the proxy (and drops it at the end).
  sys = await startTestSystem({
    DATABASE_URL: proxies.postgres.rewrite(real.databaseUrl),
    REDIS_URL: proxies.redis.rewrite(real.redisUrl),
    NATS_URL: proxies.nats.rewrite(real.natsUrl),
  });
  base = sys.app.url;
});
afterAll(async () => {
  // The system cleans up through the proxies, so they stop last (and are healed in case a test failed).
  for (const proxy of Object.values(proxies)) proxy.up();
  await sys?.stop();
  await Promise.all(Object.values(proxies).map((p) => p.stop()));
});

interface Readiness {
  status: string;
  down: string[];
}

async function readiness(): Promise<{ status: number; body: Readiness }> {
  const res = await fetch(`${base}/readyz`);
  return { status: res.status, body: (await res.json()) as Readiness };
}

describe('operator endpoints', () => {
  it('answers /healthz with 200 while the process is up', async () => {
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz with 200 when Postgres, Redis and NATS all answer', async () => {
    expect(await readiness()).toMatchObject({ status: 200, body: { status: 'ready', down: [] } });
  });

  it.each(Object.keys(proxies) as (keyof typeof proxies)[])(
    'answers /readyz with 503 naming %s while it is cut off, and 200 again once it is back',
    async (name) => {
      proxies[name].down();
      try {
        const cut = await eventually(
          async () => {
            const r = await readiness();
            return r.status === 503 ? r : undefined;
          },
          10_000,
          `/readyz reporting ${name} down`,
        );
        expect(cut.body).toMatchObject({ status: 'unavailable', down: [name] });
      } finally {
        proxies[name].up();
      }
      // Clients reconnect with backoff, so recovery takes a moment.
      await eventually(
        async () => ((await readiness()).status === 200 ? true : undefined),
        20_000,
        `/readyz recovering after ${name} came back`,
      );
    },
  );

  it('serves Prometheus metrics that count HTTP requests', async () => {
    await fetch(`${base}/healthz`);
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toContain('# TYPE http_requests_total counter');
    expect(text).toMatch(/^http_requests_total\{route="\/healthz",status="200"\} \d+$/m);
  });

  it('answers an unknown route with a JSON 404, counted under one label', async () => {
    const res = await fetch(`${base}/no/such/route`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ error: 'not found' });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^http_requests_total\{route="other",status="404"\} \d+$/m);
  });
});
