import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findNginx, startMicroCache, type MicroCache } from '../bench/edge-cache.js';
import { persistedGetPath } from '../src/http/persisted-documents.js';
import { BookTicketDocument } from './generated/graphql.js';
import { ADMIN_EMAIL, createEvent, signUp } from './support/fixtures.js';
import { eventually, gqlOk, startTestSystem, type TestSystem } from './support/system.js';

/**
 * The persisted GET behind a real micro-cache: the benchmark's nginx (bench/edge-cache.ts, one
 * second of proxy_cache, lock, stale while updating), a private process in front of the system.
 * nginx comes from the OS package (unpacked when it is not installed); only when that cannot be
 * had does this file skip, saying why.
 */

const nginx = await findNginx().then(
  (path) => ({ path, reason: '' }),
  (err: unknown) => ({ path: '', reason: err instanceof Error ? err.message : String(err) }),
);
if (!nginx.path) console.warn(`edge-cache.test.ts skipped: nginx cannot be had here (${nginx.reason})`);

let sys: TestSystem;
let cache: MicroCache;
let eventId: string;
let buyerToken: string;

beforeAll(async () => {
  if (!nginx.path) return;
  sys = await startTestSystem();
  const admin = await signUp(sys, ADMIN_EMAIL);
  buyerToken = (await signUp(sys)).token;
  eventId = (await createEvent(sys, admin.token, { title: 'Behind The Cache', ticketsTotal: 10 })).id;
  cache = await startMicroCache(nginx.path, [new URL(sys.url).origin]);
});
afterAll(async () => {
  await cache?.stop();
  await sys?.stop();
});

async function viaCache(headers: Record<string, string> = {}) {
  const res = await fetch(`${cache.origin}${persistedGetPath('EventPage', { id: eventId })}`, { headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** Persisted GETs the system answered itself. */
async function originRequests(): Promise<number> {
  const metric = await sys.app.infra.metrics.graphqlRequests.get();
  return metric.values.find((v) => v.labels.path === 'persisted')?.value ?? 0;
}

describe.skipIf(!nginx.path)('an nginx micro-cache in front of the persisted GET', () => {
  it('serves repeats from the cache: one request reaches the system', async () => {
    const before = await originRequests();
    const first = await viaCache();
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache-status')).toBe('MISS');
    for (let i = 0; i < 10; i++) {
      const again = await viaCache();
      expect(again.headers.get('x-cache-status')).toBe('HIT');
      expect(again.text).toBe(first.text);
      expect(again.headers.get('etag')).toBe(first.headers.get('etag'));
    }
    expect((await originRequests()) - before).toBe(1);
  });

  it('shows a change within a few seconds (max-age 1, stale while it refreshes)', async () => {
    await gqlOk(sys.url, BookTicketDocument, { eventId, quantity: 1, idempotencyKey: randomUUID() }, buyerToken);
    const fresh = await eventually(async () => {
      const a = await viaCache();
      return a.text.includes('"ticketsAvailable":9') ? a : undefined;
    }, 5000);
    expect(fresh.headers.get('cache-control')).toBe('public, max-age=1, stale-while-revalidate=5');
  });

  it('passes signed-in reads through, uncached', async () => {
    const before = await originRequests();
    for (let i = 0; i < 3; i++) {
      const signedIn = await viaCache({ authorization: `Bearer ${buyerToken}` });
      expect(signedIn.status).toBe(200);
      expect(signedIn.headers.get('x-cache-status')).toBe('BYPASS');
      expect(signedIn.headers.get('cache-control')).toBe('private, no-store');
    }
    expect((await originRequests()) - before).toBe(3);
  });
});
