import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { urlsFromEnv } from '../scripts/local-services.js';
import { pino } from 'pino';
import { startApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { eventually, startTestSystem, wsClient, wsRequest, type TestSystem } from './support/system.js';
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

async function readiness(origin = base): Promise<{ status: number; body: Readiness }> {
  const res = await fetch(`${origin}/readyz`);
  return { status: res.status, body: (await res.json()) as Readiness };
}

/** Waits until `origin`'s /readyz answers 503, and returns that answer. */
function readinessWhileDown(name: string, origin = base) {
  return eventually(
    async () => {
      const r = await readiness(origin);
      return r.status === 503 ? r : undefined;
    },
    10_000,
    `/readyz reporting ${name} down`,
  );
}

function readyAgain(name: string) {
  // Clients reconnect with backoff, so recovery takes a moment.
  return eventually(
    async () => ((await readiness()).status === 200 ? true : undefined),
    20_000,
    `/readyz recovering after ${name} came back`,
  );
}

describe('operator endpoints', () => {
  it('answers /healthz with 200 while the process is up', async () => {
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz with 200 when Postgres, Redis and NATS all answer', async () => {
    expect(await readiness()).toEqual({ status: 200, body: { status: 'ready', down: [] } });
  });

  it.each(Object.keys(proxies) as (keyof typeof proxies)[])(
    'answers /readyz with 503 naming %s while it is cut off, never with the driver message, and 200 again once it is back',
    async (name) => {
      proxies[name].down();
      try {
        const cut = await readinessWhileDown(name);
        expect(cut.body).toEqual({ status: 'unavailable', down: [name] });
      } finally {
        proxies[name].up();
      }
      await readyAgain(name);
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

const INTROSPECTION_QUERY = '{ __schema { queryType { name } } }';
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const APOLLO_VERSION = (
  JSON.parse(readFileSync(new URL('../node_modules/@apollo/server/package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

async function introspectOverHttp(app: App) {
  const res = await fetch(`${app.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: INTROSPECTION_QUERY }),
  });
  return (await res.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
}

async function introspectOverWs(app: App) {
  const client = wsClient(`ws://127.0.0.1:${app.port}/graphql`);
  try {
    const document = parse(INTROSPECTION_QUERY) as TypedDocumentNode<{ __schema: unknown }, Record<string, never>>;
    return await wsRequest(client, document);
  } finally {
    await client.dispose();
  }
}

describe('a production gateway with OPS_PORT', () => {
  let prod: App;
  let ops: string;

  beforeAll(async () => {
    // A password in the database URL: the trust-auth test server ignores it, the report must not show it.
    const database = new URL(sys.config.databaseUrl);
    database.password = 'hunter2-not-for-logs';
    prod = await sys.startInstance({
      ROLE: 'gateway',
      NODE_ENV: 'production',
      ALLOW_SIMULATED_PAYMENTS: 'true',
      OPS_PORT: '0',
      INTROSPECTION: 'true',
      DATABASE_URL: database.toString(),
    });
    ops = `http://127.0.0.1:${prod.opsPort}`;
  });

  it('serves /metrics only on the operator port; the API port answers 404', async () => {
    expect(prod.opsPort).toBeTypeOf('number');
    expect(prod.opsPort).not.toBe(prod.port);
    const api = await fetch(`${prod.url}/metrics`);
    expect(api.status).toBe(404);
    const res = await fetch(`${ops}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('# TYPE http_requests_total counter');
    // The operator port serves nothing of the API.
    expect((await fetch(`${ops}/graphql`)).status).toBe(404);
    expect((await fetch(`${ops}/healthz`)).status).toBe(200);
  });

  it('gives the detailed readiness report on the operator port only, without secrets', async () => {
    expect(await readiness(ops)).toMatchObject({
      status: 200,
      body: { status: 'ready', down: [], dependencies: { postgres: { up: true }, redis: { up: true } } },
    });
    proxies.postgres.down();
    try {
      const detailed = await readinessWhileDown('postgres', ops);
      const report = detailed.body as Readiness & { dependencies: Record<string, { up: boolean; error?: string }> };
      expect(report).toMatchObject({ status: 'unavailable', down: ['postgres'] });
      expect(report.dependencies['postgres']).toMatchObject({ up: false, error: expect.any(String) });
      expect(JSON.stringify(report)).not.toContain('hunter2');
      expect((await readinessWhileDown('postgres', prod.url)).body).toEqual({
        status: 'unavailable',
        down: ['postgres'],
      });
    } finally {
      proxies.postgres.up();
    }
    await readyAgain('postgres');
  });

  it('serves no landing page on GET /graphql: a plain answer without scripts or the server version', async () => {
    const res = await fetch(`${prod.url}/graphql`, { headers: { accept: BROWSER_ACCEPT } });
    const body = await res.text();
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).not.toMatch(/text\/html/);
    expect(body).not.toMatch(/<script|<html|cdn\./i);
    expect(body).not.toContain(APOLLO_VERSION);
  });

  it('answers introspection when INTROSPECTION=true, on HTTP and graphql-ws, with GraphiQL off', async () => {
    expect(prod.config).toMatchObject({ graphiql: false, introspection: true });
    expect(await introspectOverHttp(prod)).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
    expect((await introspectOverWs(prod)).data).toEqual({ __schema: { queryType: { name: 'Query' } } });
  });
});

describe('INTROSPECTION=false with GraphiQL on', () => {
  let gateway: App;

  beforeAll(async () => {
    gateway = await sys.startInstance({ ROLE: 'gateway', GRAPHIQL: 'true', INTROSPECTION: 'false' });
  });

  it('refuses introspection on HTTP and graphql-ws while GraphiQL is still served', async () => {
    const http = await introspectOverHttp(gateway);
    expect(http.data ?? undefined).toBeUndefined();
    expect(http.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    await expect(introspectOverWs(gateway)).rejects.toThrow(/introspection/i);
    const page = await fetch(`${gateway.url}/graphql`, { headers: { accept: BROWSER_ACCEPT } });
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  });
});

describe('the start-up log', () => {
  /** Starts a gateway on this system's servers with `env`, and returns what it logged while starting. */
  async function startupLines(env: Record<string, string>) {
    const lines: { level: number; msg: string; [key: string]: unknown }[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const config = loadConfig({
      PORT: '0',
      ROLE: 'gateway',
      MIGRATE_ON_START: 'false',
      DATABASE_URL: sys.config.databaseUrl,
      REDIS_URL: sys.config.redisUrl,
      NATS_URL: sys.config.natsUrl,
      NAMESPACE: sys.config.namespace,
      JWT_SECRET: sys.config.auth.jwtSecret,
      ...env,
    });
    const app = await startApp(config, log);
    await app.stop();
    return lines;
  }

  it('names the payment and push providers, and warns about the simulated provider and a missing OPS_PORT in production', async () => {
    const lines = await startupLines({ NODE_ENV: 'production', ALLOW_SIMULATED_PAYMENTS: 'true' });
    expect(lines.find((l) => l.msg.startsWith('started'))).toMatchObject({
      msg: 'started: payments simulated, push log',
      paymentProvider: 'simulated',
      pushProvider: 'log',
    });
    const warnings = lines.filter((l) => l.level === 40).map((l) => l.msg);
    expect(warnings).toEqual([
      expect.stringMatching(/simulated payment provider runs in production.*ALLOW_SIMULATED_PAYMENTS=true/),
      expect.stringMatching(/OPS_PORT is not set/),
    ]);
  });

  it('warns about neither outside production with OPS_PORT set', async () => {
    const lines = await startupLines({ NODE_ENV: 'development', OPS_PORT: '0' });
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });
});
