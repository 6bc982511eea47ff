import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateEventDocument, EventDocument, EventsDocument } from './generated/graphql.js';
import { ADMIN_EMAIL, HOUR, createEvent, eventInput, signUp } from './support/fixtures.js';
import { errorCode, gql, gqlOk, startTestSystem, type TestSystem } from './support/system.js';

let sys: TestSystem;
let admin: string;
let buyer: string;

beforeAll(async () => {
  sys = await startTestSystem();
  admin = (await signUp(sys, ADMIN_EMAIL)).token;
  buyer = (await signUp(sys)).token;
});
afterAll(async () => {
  await sys.stop();
});

async function allPages(query: string | null, first: number) {
  const ids: string[] = [];
  let after: string | null = null;
  let pages = 0;
  for (;;) {
    const {
      events,
    }: {
      events: {
        edges: { node: { id: string } }[];
        pageInfo: { hasNextPage: boolean; endCursor: string | null };
        totalCount: number;
      };
    } = await gqlOk(sys.url, EventsDocument, { query, first, after });
    ids.push(...events.edges.map((e) => e.node.id));
    pages += 1;
    if (!events.pageInfo.hasNextPage) return { ids, pages, totalCount: events.totalCount };
    after = events.pageInfo.endCursor;
  }
}

describe('createEvent', () => {
  it('lets an admin create an event with its stock and a derived status', async () => {
    const event = await createEvent(sys, admin, { title: 'Created', ticketsTotal: 250, currency: 'eur' });
    expect(event).toMatchObject({
      title: 'Created',
      ticketsTotal: 250,
      ticketsAvailable: 250,
      currency: 'EUR',
      status: 'ON_SALE',
    });
    const later = await createEvent(sys, admin, { saleStartsAt: new Date(Date.now() + HOUR).toISOString() });
    expect(later.status).toBe('SCHEDULED');
  });

  it('is refused to a buyer (FORBIDDEN) and to an anonymous caller (UNAUTHENTICATED)', async () => {
    expect(errorCode(await gql(sys.url, CreateEventDocument, { input: eventInput() }, buyer))).toBe('FORBIDDEN');
    expect(errorCode(await gql(sys.url, CreateEventDocument, { input: eventInput() }))).toBe('UNAUTHENTICATED');
  });

  it.each([
    ['ticketsTotal', { ticketsTotal: 0 }],
    ['saleStartsAt', { saleStartsAt: new Date(Date.now() + 72 * HOUR).toISOString() }],
    ['price', { price: -1 }],
    ['currency', { currency: 'US' }],
    ['maxPerUser', { maxPerUser: 0 }],
    ['title', { title: '' }],
  ])('answers BAD_USER_INPUT naming %s when it is invalid, and creates nothing', async (field, overrides) => {
    const before = (await gqlOk(sys.url, EventsDocument, { first: 1 })).events.totalCount;
    const res = await gql(sys.url, CreateEventDocument, { input: eventInput(overrides) }, admin);
    expect(errorCode(res)).toBe('BAD_USER_INPUT');
    expect(res.errors?.[0]?.message).toContain(field);
    expect((await gqlOk(sys.url, EventsDocument, { first: 1 })).events.totalCount).toBe(before);
  });
});

describe('browsing', () => {
  it('shows an event to an anonymous caller, and null for an unknown id', async () => {
    const created = await createEvent(sys, admin, { title: 'Open to all' });
    const { event } = await gqlOk(sys.url, EventDocument, { id: created.id });
    expect(event).toEqual(created);
    expect((await gqlOk(sys.url, EventDocument, { id: '00000000-0000-4000-8000-000000000000' })).event).toBeNull();
    expect((await gqlOk(sys.url, EventDocument, { id: 'not-a-uuid' })).event).toBeNull();
  });

  it('rejects a page size out of range and a cursor that is not one', async () => {
    expect(errorCode(await gql(sys.url, EventsDocument, { first: 0 }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await gql(sys.url, EventsDocument, { first: 1000 }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await gql(sys.url, EventsDocument, { after: 'bogus' }))).toBe('BAD_USER_INPUT');
  });
});

describe('search', () => {
  beforeAll(async () => {
    await createEvent(sys, admin, {
      title: 'Midnight Jazz Session',
      description: 'Trio plays standards.',
      venue: 'Blue Room',
    });
    await createEvent(sys, admin, {
      title: 'Rock Night',
      description: 'Loud guitars and a saxophone solo.',
      venue: 'Arena One',
    });
    await createEvent(sys, admin, { title: 'Poetry Reading', description: 'Quiet words.', venue: 'Harbour Pavilion' });
    await createEvent(sys, admin, {
      title: 'Jazz',
      description: 'Just jazz.',
      venue: 'Cellar',
      startsAt: new Date(Date.now() + 300 * HOUR).toISOString(),
    });
    await createEvent(sys, admin, {
      title: 'Gone Jazz',
      description: 'Already over.',
      venue: 'Old Hall',
      startsAt: new Date(Date.now() - HOUR).toISOString(),
      saleStartsAt: new Date(Date.now() - 5 * HOUR).toISOString(),
    });
  });

  const titles = async (query: string) =>
    (await gqlOk(sys.url, EventsDocument, { query, first: 50 })).events.edges.map((e) => e.node.title);

  it('finds an event by a word of its title, its description or its venue', async () => {
    expect(await titles('midnight')).toEqual(['Midnight Jazz Session']);
    expect(await titles('saxophone')).toEqual(['Rock Night']);
    expect(await titles('pavilion')).toEqual(['Poetry Reading']);
    expect(await titles('guitar')).toEqual(['Rock Night']); // stemmed: "guitars"
    expect(await titles('opera')).toEqual([]);
  });

  it('ranks an exact title match first, and leaves out events that have started unless asked', async () => {
    const found = await titles('jazz');
    expect(found[0]).toBe('Jazz');
    expect(found).toContain('Midnight Jazz Session');
    expect(found).not.toContain('Gone Jazz');
    const withEnded = await gqlOk(sys.url, EventsDocument, { query: 'jazz', includeEnded: true });
    expect(withEnded.events.edges.map((e) => e.node.title)).toContain('Gone Jazz');
  });
});

describe('pagination', () => {
  it('pages through 55 events with cursors, without gaps or repeats, in start order', async () => {
    const created = new Set<string>();
    for (let i = 0; i < 55; i += 1) {
      const e = await createEvent(sys, admin, {
        title: `Festival day ${i}`,
        description: 'Part of the long festival.',
        // Several share a start time, so the id breaks ties.
        startsAt: new Date(Date.now() + (100 + (i % 7)) * HOUR).toISOString(),
      });
      created.add(e.id);
    }
    const search = await allPages('festival', 10);
    expect(search.totalCount).toBe(55);
    expect(search.pages).toBe(6);
    expect(new Set(search.ids).size).toBe(55);
    expect(new Set(search.ids)).toEqual(created);

    const all = await allPages(null, 7);
    expect(new Set(all.ids).size).toBe(all.ids.length);
    expect(all.totalCount).toBe(all.ids.length);
    for (const id of created) expect(all.ids).toContain(id);
    const { events } = await gqlOk(sys.url, EventsDocument, { first: 50 });
    const starts = events.edges.map((e) => Date.parse(e.node.startsAt));
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
  });
});
