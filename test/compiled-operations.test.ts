import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BookTicketDocument, EventDocument, EventsDocument, MeDocument } from './generated/graphql.js';
import { ADMIN_EMAIL, HOUR, createEvent, signUp } from './support/fixtures.js';
import { startTestSystem, wsClient, wsRequest, type TestSystem } from './support/system.js';

let sys: TestSystem;
let admin: string;

beforeAll(async () => {
  sys = await startTestSystem();
  admin = (await signUp(sys, ADMIN_EMAIL)).token;
});
afterAll(async () => {
  await sys.stop();
});

/** Posts the same operation twice: as a plain request (compiled fast path) and with `extensions` (Apollo). */
async function bothPaths(document: Parameters<typeof print>[0], variables: Record<string, unknown>, token?: string) {
  const post = async (extra: Record<string, unknown>) => {
    const res = await fetch(sys.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query: print(document), variables, ...extra }),
    });
    return { status: res.status, body: await res.json() };
  };
  return { compiled: await post({}), apollo: await post({ extensions: {} }) };
}

describe('compiled operations', () => {
  it('answer exactly as the full server does: data, domain errors, auth errors, bad variables', async () => {
    const event = await createEvent(sys, admin, {
      title: 'Parity Jazz',
      saleStartsAt: new Date(Date.now() + HOUR).toISOString(),
    });
    const { token } = await signUp(sys);
    const served = async (path: string) =>
      (await sys.app.infra.metrics.graphqlRequests.get()).values.find((v) => v.labels.path === path)?.value ?? 0;
    const [compiledBefore, fullBefore] = [await served('compiled'), await served('full')];
    const cases = [
      await bothPaths(EventDocument, { id: event.id }),
      await bothPaths(EventsDocument, { query: 'parity' }),
      await bothPaths(MeDocument, {}),
      await bothPaths(MeDocument, {}, token),
      await bothPaths(MeDocument, {}, 'forged.token.value'),
      await bothPaths(BookTicketDocument, { eventId: event.id, idempotencyKey: 'p' }, token),
      await bothPaths(BookTicketDocument, { eventId: event.id, quantity: 'two', idempotencyKey: 'p' }, token),
      await bothPaths(EventDocument, { id: event.id, extra: 1 }),
    ];
    for (const { compiled, apollo } of cases) {
      expect(compiled).toEqual(apollo);
    }
    // 6 of the 8 plain requests ran compiled; the forged token and the bad variable fell back, as did every `extensions` one.
    expect((await served('compiled')) - compiledBefore).toBe(6);
    expect((await served('full')) - fullBefore).toBe(10);
    // The cases above cover success, a domain error, an auth error and a request error.
    expect(cases.map((c) => c.compiled.status)).toEqual([200, 200, 200, 200, 401, 200, 400, 200]);
  });

  it('run compiled over graphql-ws too, with the same answers as HTTP', async () => {
    const event = await createEvent(sys, admin, {
      title: 'Socket Parity',
      saleStartsAt: new Date(Date.now() + HOUR).toISOString(),
    });
    const { token } = await signUp(sys);
    const socket = wsClient(sys.wsUrl, token);
    try {
      const viaSocket = [
        await wsRequest(socket, EventDocument, { id: event.id }),
        await wsRequest(socket, MeDocument, {}),
        await wsRequest(socket, BookTicketDocument, { eventId: event.id, idempotencyKey: 'k' }),
      ];
      const viaHttp = [
        (await bothPaths(EventDocument, { id: event.id })).apollo.body,
        (await bothPaths(MeDocument, {}, token)).apollo.body,
        (await bothPaths(BookTicketDocument, { eventId: event.id, idempotencyKey: 'k' }, token)).apollo.body,
      ];
      expect(viaSocket.map(({ status: _status, ...body }) => body)).toEqual(viaHttp);
      // The sale has not started: a domain error, not a transport one.
      expect(JSON.stringify(viaHttp[2])).toContain('NOT_ON_SALE');
    } finally {
      await socket.dispose();
    }
  });
});
