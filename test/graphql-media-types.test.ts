import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EventDocument,
  EventsDocument,
  MyOrdersDocument,
  OrderDocument,
  SignInDocument,
  SignUpDocument,
} from './generated/graphql.js';
import { gql, startTestSystem, type TestSystem } from './support/system.js';

/**
 * GraphQL over HTTP's media types: the compiled fast path must answer every request it serves with
 * the content-type and status Apollo gives the same request (a request with `extensions`, however
 * empty, always goes to Apollo), and the endpoint speaks both application/json and
 * application/graphql-response+json.
 */
let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem();
});
afterAll(async () => {
  await sys.stop();
});

const JSON_TYPE = 'application/json; charset=utf-8';
const GRAPHQL_RESPONSE = 'application/graphql-response+json; charset=utf-8';
const CALLBACK = 'application/json; callbackSpec=1.0; charset=utf-8';

/** Accept header (absent when undefined) → the content-type Apollo answers with, or 406. */
const ACCEPTS: [string | undefined, string | 406][] = [
  [undefined, JSON_TYPE],
  ['', JSON_TYPE],
  ['application/json', JSON_TYPE],
  ['APPLICATION/JSON', JSON_TYPE],
  ['application/json; charset=utf-8', JSON_TYPE],
  ['application/graphql-response+json', GRAPHQL_RESPONSE],
  ['application/graphql-response+json; charset=utf-8', GRAPHQL_RESPONSE],
  ['*/*', JSON_TYPE],
  ['application/*', JSON_TYPE],
  // Equal q-values: the one the client lists first.
  ['application/graphql-response+json, application/json', GRAPHQL_RESPONSE],
  ['application/json, application/graphql-response+json', JSON_TYPE],
  ['application/json;q=0.9, application/graphql-response+json', GRAPHQL_RESPONSE],
  ['application/graphql-response+json;q=0.5, application/json;q=0.9', JSON_TYPE],
  ['application/graphql-response+json, */*;q=0.1', GRAPHQL_RESPONSE],
  ['application/json; callbackSpec=1.0', CALLBACK],
  ['text/html', 406],
  ['image/png', 406],
  ['application/graphql-response+json;q=0', 406],
];

const MISSING_ORDER = '00000000-0000-0000-0000-000000000000';

/**
 * Request kinds → the status Apollo gives each (whatever the media type); `fast` is what the fast
 * path does with it: runs it, or only refuses an Accept header it cannot satisfy (the document is
 * compiled, but Apollo words the error of variables that do not coerce), or leaves it to Apollo.
 */
const KINDS: { kind: string; body: Record<string, unknown>; status: number; fast: 'runs' | 'refuses' | 'none' }[] = [
  { kind: 'success', body: { query: print(EventsDocument), variables: { first: 1 } }, status: 200, fast: 'runs' },
  {
    kind: 'field error',
    body: { query: print(OrderDocument), variables: { id: MISSING_ORDER } },
    status: 200,
    fast: 'runs',
  },
  { kind: 'field error, data null', body: { query: print(MyOrdersDocument) }, status: 200, fast: 'runs' },
  { kind: 'validation error', body: { query: '{ noSuchField }' }, status: 400, fast: 'none' },
  { kind: 'parse error', body: { query: '{ events {' }, status: 400, fast: 'none' },
  { kind: 'bad variables', body: { query: print(EventDocument), variables: { id: {} } }, status: 400, fast: 'refuses' },
  { kind: 'missing variables', body: { query: print(EventDocument) }, status: 400, fast: 'refuses' },
];

async function post(body: Record<string, unknown>, accept: string | undefined) {
  const res = await fetch(sys.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(accept === undefined ? {} : { accept }) },
    body: JSON.stringify(body),
  });
  return { status: res.status, contentType: res.headers.get('content-type'), body: await res.text() };
}

async function compiledServed(): Promise<number> {
  const metric = await sys.app.infra.metrics.graphqlRequests.get();
  return metric.values.find((v) => v.labels.path === 'compiled')?.value ?? 0;
}

describe('media types of GraphQL over HTTP', () => {
  it('the compiled fast path answers with the content-type, status and body Apollo gives, for every Accept header', async () => {
    for (const { kind, body, status, fast: path } of KINDS) {
      for (const [accept, expected] of ACCEPTS) {
        const label = `${kind}, Accept: ${accept ?? '(none)'}`;
        const before = await compiledServed();
        const fast = await post(body, accept);
        const servedFast = path === 'runs' || (path === 'refuses' && expected === 406);
        expect((await compiledServed()) - before, label).toBe(servedFast ? 1 : 0);
        const apollo = await post({ ...body, extensions: {} }, accept);
        expect(fast, label).toEqual(apollo);
        expect(fast.status, label).toBe(expected === 406 ? 406 : status);
        expect(fast.contentType, label).toBe(expected === 406 ? JSON_TYPE : expected);
      }
    }
  });

  it('runs nothing for a client that accepts none of its media types, on either path', async () => {
    for (const extra of [{}, { extensions: {} }]) {
      const email = `refused-${Object.keys(extra).length}@example.test`;
      const body = { query: print(SignUpDocument), variables: { email, password: 'correct horse battery', name: 'R' } };
      const refused = await post({ ...body, ...extra }, 'image/png');
      expect(refused.status).toBe(406);
      expect(JSON.parse(refused.body)).toEqual({
        errors: [
          {
            message: `An 'accept' header was provided for this request which does not accept ${JSON_TYPE} or ${GRAPHQL_RESPONSE}`,
            extensions: { code: 'BAD_REQUEST' },
          },
        ],
      });
      // The account was not created: signing up with the same e-mail now works.
      const again = await gql(sys.url, SignUpDocument, body.variables);
      expect(again.errors).toBeUndefined();
      expect(again.data?.signUp.user.email).toBe(email);
    }
  });

  it('serves GET queries with variables in the query string, and refuses GET mutations and other methods with Allow', async () => {
    const url = new URL(sys.url);
    url.searchParams.set('query', print(EventsDocument));
    url.searchParams.set('variables', JSON.stringify({ first: 1 }));
    // Apollo's CSRF prevention: a GET needs a preflight header (browsers cannot add one cross-site).
    const preflight = { 'apollo-require-preflight': 'true' };
    for (const [accept, type] of [
      ['application/json', JSON_TYPE],
      ['application/graphql-response+json', GRAPHQL_RESPONSE],
    ] as const) {
      const res = await fetch(url, { headers: { ...preflight, accept } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      expect(await res.json()).toMatchObject({ data: { events: { totalCount: 0 } } });
    }
    const blocked = await fetch(url, { headers: { accept: 'application/json' } });
    expect(blocked.status).toBe(400);
    expect(await blocked.text()).toMatch(/Cross-Site Request Forgery/);

    const mutation = new URL(sys.url);
    mutation.searchParams.set('query', print(SignInDocument));
    mutation.searchParams.set('variables', JSON.stringify({ email: 'get@example.test', password: 'irrelevant' }));
    const get = await fetch(mutation, { headers: preflight });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');

    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      const res = await fetch(sys.url, { method, headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow'), method).toBe('GET, POST');
    }
  });
});
