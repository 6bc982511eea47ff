import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BookTicketDocument } from './generated/graphql.js';
import { EventListDocument, EventPageDocument } from '../web/src/gql/public-reads/graphql.js';
import {
  PERSISTED_DOCUMENTS,
  PERSISTED_DOCUMENTS_FILE,
  documentIdOf,
  loadPersistedDocuments,
  persistedDocument,
  persistedGetPath,
} from '../src/http/persisted-documents.js';
import { ADMIN_EMAIL, createEvent, signUp } from './support/fixtures.js';
import { eventually, gqlOk, startTestSystem, type TestSystem } from './support/system.js';

/**
 * The public reads an edge cache can serve: persisted documents over GET
 * (src/http/graphql-persisted-get.ts), driven over HTTP as a browser or a CDN sends them.
 */

let sys: TestSystem;
let origin: string;
let adminToken: string;
let buyerToken: string;
let eventId: string;

beforeAll(async () => {
  sys = await startTestSystem();
  origin = new URL(sys.url).origin;
  adminToken = (await signUp(sys, ADMIN_EMAIL)).token;
  buyerToken = (await signUp(sys)).token;
  eventId = (await createEvent(sys, adminToken, { title: 'Cacheable Night', ticketsTotal: 10 })).id;
});
afterAll(async () => {
  await sys.stop();
});

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json(): { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] };
}

async function get(path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${origin}${path}`, { headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as ReturnType<Answer['json']> };
}

const eventPage = (id = eventId) => persistedGetPath('EventPage', { id });
const PUBLIC = 'public, max-age=1, stale-while-revalidate=5';

async function eventCount(): Promise<number> {
  const [row] = await sys.app.infra.orm.em.fork().execute<{ n: string }[]>('select count(*) as n from events');
  return Number(row!.n);
}

describe('persisted documents over GET', () => {
  it('ids are the SHA-256 of each document, and every one compiles against the schema', async () => {
    for (const [id, doc] of PERSISTED_DOCUMENTS) {
      expect(id).toBe(documentIdOf(doc.query));
      expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
    // The README lists them for clients written in anything else.
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const doc of PERSISTED_DOCUMENTS.values())
      expect(readme, doc.name).toContain(`| \`${doc.name}\` | \`${doc.id}\``);
    const list = await get(persistedGetPath('EventList', { first: 5 }));
    expect(list.status).toBe(200);
    expect(list.json().errors).toBeUndefined();
  });

  it('the safelist is the web app’s public reads: the ids its typed documents carry, and nothing else', () => {
    const idOf = (document: object) => (document as { __meta__?: { hash?: string } }).__meta__?.hash;
    expect(idOf(EventPageDocument)).toBe(persistedDocument('EventPage').id);
    expect(idOf(EventListDocument)).toBe(persistedDocument('EventList').id);
    expect([...PERSISTED_DOCUMENTS.values()].map((d) => d.name).sort()).toEqual(['EventList', 'EventPage']);
  });

  it('refuses at load a manifest whose id is not its document’s, or that holds anything but one named query', () => {
    const dir = mkdtempSync(join(tmpdir(), 'persisted-'));
    const load = (manifest: unknown) => {
      const file = join(dir, 'persisted-documents.json');
      writeFileSync(file, JSON.stringify(manifest));
      return () => loadPersistedDocuments(file);
    };
    try {
      const page = persistedDocument('EventPage');
      expect(load({ [page.id]: page.query })().get(page.id)?.name).toBe('EventPage');
      // Edited by hand, or left behind by a document changed without `npm run codegen`.
      expect(load({ [page.id]: page.query.replace('description ', '') })).toThrow(/is not the id of EventPage/);
      const mutation = 'mutation M { signIn(email: "a", password: "b") { token } }';
      expect(load({ [documentIdOf(mutation)]: mutation })).toThrow(/one named query/);
      const anonymous = '{ events { totalCount } }';
      expect(load({ [documentIdOf(anonymous)]: anonymous })).toThrow(/one named query/);
      expect(load([page.query])).toThrow(/not a map/);
      expect(load({ [page.id]: 1 })).toThrow(/is not a document/);
      // The served file is the one codegen writes.
      expect(PERSISTED_DOCUMENTS_FILE).toMatch(/\/web\/src\/gql\/public-reads\/persisted-documents\.json$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an anonymous read is public for a second, with a strong ETag that a repeat gets back as 304', async () => {
    const first = await get(eventPage());
    expect(first.status).toBe(200);
    expect(first.json()).toMatchObject({ data: { event: { id: eventId, ticketsAvailable: 10, waitingRoom: null } } });
    expect(first.headers.get('cache-control')).toBe(PUBLIC);
    expect(first.headers.get('vary')).toBe('Accept, Authorization');
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]+"$/); // strong: no W/

    const again = await get(eventPage());
    expect(again.headers.get('etag')).toBe(etag);
    expect(again.text).toBe(first.text);

    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const revalidated = await get(eventPage(), { 'if-none-match': ifNoneMatch });
      expect(revalidated.status, ifNoneMatch).toBe(304);
      expect(revalidated.text).toBe('');
      expect(revalidated.headers.get('etag')).toBe(etag);
      expect(revalidated.headers.get('cache-control')).toBe(PUBLIC);
    }
    expect((await get(eventPage(), { 'if-none-match': '"not-this-one"' })).status).toBe(200);
  });

  it('the ETag follows the media type', async () => {
    const json = await get(eventPage());
    const spec = await get(eventPage(), { accept: 'application/graphql-response+json' });
    expect(spec.headers.get('content-type')).toBe('application/graphql-response+json; charset=utf-8');
    expect(spec.headers.get('etag')).not.toBe(json.headers.get('etag'));
  });

  it('a signed-in read is private and never stored, and gets no 304', async () => {
    const anonymous = await get(eventPage());
    const signedIn = await get(eventPage(), {
      authorization: `Bearer ${buyerToken}`,
      'if-none-match': anonymous.headers.get('etag')!,
    });
    expect(signedIn.status).toBe(200);
    expect(signedIn.json().data).toEqual(anonymous.json().data);
    expect(signedIn.headers.get('cache-control')).toBe('private, no-store');
    expect(signedIn.headers.get('etag')).toBeNull();

    // A token that does not verify is refused as on POST, and that refusal is not stored either.
    const badToken = await get(eventPage(), { authorization: 'Bearer not-a-token' });
    expect(badToken.status).toBe(401);
    expect(badToken.json().errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(badToken.headers.get('cache-control')).toBe('private, no-store');
  });

  it('the ETag changes when the event does: tickets left after a booking', async () => {
    const before = await get(eventPage());
    const etag = before.headers.get('etag')!;
    await gqlOk(sys.url, BookTicketDocument, { eventId, quantity: 2, idempotencyKey: randomUUID() }, buyerToken);
    const after = await eventually(async () => {
      const a = await get(eventPage(), { 'if-none-match': etag });
      return a.status === 200 ? a : undefined;
    });
    expect(after.json()).toMatchObject({ data: { event: { ticketsAvailable: 8 } } });
    expect(after.headers.get('etag')).not.toBe(etag);
    expect(after.headers.get('cache-control')).toBe(PUBLIC);
  });

  it('the list’s ETag changes when an admin adds an event', async () => {
    const path = persistedGetPath('EventList', { first: 50 });
    const before = await get(path);
    expect(before.headers.get('cache-control')).toBe(PUBLIC);
    await createEvent(sys, adminToken, { title: 'Added Later' });
    const after = await get(path, { 'if-none-match': before.headers.get('etag')! });
    expect(after.status).toBe(200);
    expect(after.text).toContain('Added Later');
    expect(after.headers.get('etag')).not.toBe(before.headers.get('etag'));
  });

  it('an unknown id is PERSISTED_QUERY_NOT_FOUND, a malformed one BAD_REQUEST; neither runs anything', async () => {
    const events = await eventCount();
    const unknown = await get(`/graphql?documentId=sha256:${'0'.repeat(64)}&variables=${encodeURIComponent('{}')}`);
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toEqual({
      errors: [expect.objectContaining({ extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } })],
    });
    expect(unknown.headers.get('cache-control')).toBe('no-store');
    for (const bad of ['', 'has%20space', 'x'.repeat(201), '%00']) {
      const answer = await get(`/graphql?documentId=${bad}`);
      expect(answer.status, bad).toBe(400);
      expect(answer.json().errors?.[0]?.extensions?.code, bad).toBe('BAD_REQUEST');
    }
    expect(await eventCount()).toBe(events);
  });

  it('refuses other parameters, repeated ones and variables that are not a JSON object', async () => {
    const id = PERSISTED_DOCUMENTS.keys().next().value!;
    for (const search of [
      `documentId=${id}&query=${encodeURIComponent('{ me { id } }')}`,
      `documentId=${id}&extensions=%7B%7D`,
      `documentId=${id}&cachebuster=1`,
      `documentId=${id}&documentId=${id}`,
      `documentId=${id}&variables=not-json`,
      `documentId=${id}&variables=%5B1%5D`,
      `documentId=${id}&variables=42`,
    ]) {
      const answer = await get(`/graphql?${search}`);
      expect(answer.status, search).toBe(400);
      expect(answer.json().errors?.[0]?.extensions?.code, search).toBe('BAD_REQUEST');
      expect(answer.headers.get('cache-control'), search).toBe('no-store');
    }
  });

  it('validates the variables as POST does: no internal error, nothing public', async () => {
    const cases: [string, Record<string, unknown> | undefined][] = [
      ['EventPage', undefined],
      ['EventPage', {}],
      ['EventPage', { id: 12 }],
      ['EventPage', { id: 'a\u0000b' }],
      ['EventPage', { id: '\u001b[2Jx' }],
      ['EventPage', { id: 'not-a-uuid' }],
      ['EventPage', { id: "' or 1=1; --" }],
      ['EventPage', { id: eventId, extra: true }],
      ['EventList', { first: 2 ** 31 }],
      ['EventList', { first: -1 }],
      ['EventList', { first: 2.5 }],
      ['EventList', { first: 100_000 }],
      ['EventList', { query: 'a\u0085b' }],
      ['EventList', { after: '%%%not-base64%%%' }],
      ['EventList', { after: Buffer.from('["upcoming","2026-99-99",1]').toString('base64url') }],
    ];
    for (const [name, variables] of cases) {
      const what = `${name} ${JSON.stringify(variables)}`;
      const answer = await get(persistedGetPath(name, variables));
      expect(answer.status, what).toBeLessThan(500);
      const body = answer.json();
      const codes = (body.errors ?? []).map((e) => e.extensions?.code);
      expect(codes, what).not.toContain('INTERNAL_SERVER_ERROR');
      const cacheControl = answer.headers.get('cache-control');
      expect(cacheControl, what).toBe(answer.status === 200 && !body.errors ? PUBLIC : 'no-store');
    }
    // Text that is not text is refused naming the field, as on every path.
    const nul = (await get(persistedGetPath('EventPage', { id: 'a\u0000b' }))).json();
    expect(nul.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(nul.errors?.[0]?.message).toContain('id');
  });

  it('a mutation over GET is refused and changes nothing', async () => {
    const events = await eventCount();
    const mutation = `mutation { createEvent(input: { title: "Over GET", description: "x", venue: "v", startsAt: "2030-01-01T00:00:00Z", saleStartsAt: "2029-12-01T00:00:00Z", price: 1, ticketsTotal: 1 }) { id } }`;
    const path = `/graphql?query=${encodeURIComponent(mutation)}`;
    const auth = { authorization: `Bearer ${adminToken}` };
    // As a CDN or a browser sends it: Apollo's CSRF prevention refuses it before it is read.
    expect((await get(path, auth)).status).toBe(400);
    // With a preflight header it is read, and refused as GraphQL over HTTP says.
    const preflighted = await get(path, { ...auth, 'apollo-require-preflight': 'true' });
    expect(preflighted.status).toBe(405);
    expect(preflighted.headers.get('allow')).toBe('POST');
    expect(await eventCount()).toBe(events);
  });

  it('a browser opening a persisted URL gets the answer, not GraphiQL', async () => {
    const page = await get(eventPage(), { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' });
    expect(page.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(page.json()).toMatchObject({ data: { event: { id: eventId } } });
  });
});
