import { once } from 'node:events';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startTestSystem, wsClient, type TestSystem } from './support/system.js';

/**
 * Query limits (src/http/graphql-limits.ts) hold on both transports, and refusals never tell an attacker
 * the numbers to stay under. Field suggestions, which leak the schema, are off in production.
 */
let dev: TestSystem;
let prod: TestSystem;

beforeAll(async () => {
  [dev, prod] = await Promise.all([
    startTestSystem(),
    startTestSystem({
      NODE_ENV: 'production',
      JWT_SECRET: 'limits-test-secret-'.padEnd(40, 'x'),
      ALLOW_SIMULATED_PAYMENTS: 'true',
    }),
  ]);
});
afterAll(async () => {
  await Promise.all([dev?.stop(), prod?.stop()]);
});

interface Outcome {
  status?: number;
  data?: unknown;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

async function overHttp(sys: TestSystem, body: unknown): Promise<Outcome> {
  const res = await fetch(sys.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  try {
    return { status: res.status, ...(JSON.parse(text) as Omit<Outcome, 'status'>) };
  } catch {
    // Apollo answers some bad requests (e.g. a batch when batching is off) in plain text.
    return { status: res.status, errors: [{ message: text }] };
  }
}

/** One operation over graphql-ws: its first result, or the errors the server refused it with. */
async function overWs(sys: TestSystem, query: string, variables?: Record<string, unknown>): Promise<Outcome> {
  const client = wsClient(sys.wsUrl);
  try {
    return await new Promise<Outcome>((resolve, reject) => {
      client.subscribe(
        { query, variables },
        {
          next: (msg) => resolve(msg as Outcome),
          error: (err) => (Array.isArray(err) ? resolve({ errors: err as Outcome['errors'] }) : reject(err as Error)),
          complete: () => undefined,
        },
      );
    });
  } finally {
    await client.dispose();
  }
}

const transports = [
  ['HTTP', (sys: TestSystem, query: string) => overHttp(sys, { query })],
  ['graphql-ws', overWs],
] as const;

/** 12 levels of `ofType`: the classic introspection depth attack, far beyond the limit. */
const TOO_DEEP = `{ __type(name: "Query") { fields { type { ${'ofType { '.repeat(12)}name${' }'.repeat(12)} } } } }`;
/** Many more tokens than the limit: an oversized document is refused before it is even parsed in full. */
const TOO_MANY_TOKENS = `{ ${'__typename '.repeat(3000)}}`;
const TOO_MANY_ALIASES = `{ ${Array.from({ length: 40 }, (_, i) => `a${i}: events(first: 1) { totalCount }`).join(' ')} }`;

function expectRefusedWithoutNumbers(outcome: Outcome): void {
  expect(outcome.data ?? undefined).toBeUndefined();
  expect(outcome.errors?.length).toBeGreaterThan(0);
  for (const error of outcome.errors ?? []) expect(error.message).not.toMatch(/\d/);
}

/**
 * The three ways an operation is run: Apollo Server (a request the fast path hands over, here one
 * with `extensions`), the compiled fast path (a plain JSON POST) and graphql-ws.
 */
const paths = [
  [
    'Apollo',
    (sys: TestSystem, query: string, variables?: Record<string, unknown>) =>
      overHttp(sys, { query, variables, extensions: {} }),
  ],
  [
    'the compiled fast path',
    (sys: TestSystem, query: string, variables?: Record<string, unknown>) => overHttp(sys, { query, variables }),
  ],
  ['graphql-ws', overWs],
] as const;

/** `count` aliases of `field` in one query, with the given variable definitions. */
function aliased(count: number, field: string, variableDefinitions = ''): string {
  const fields = Array.from({ length: count }, (_, i) => `a${i}: ${field}`).join(' ');
  return `query Costly${variableDefinitions} { ${fields} }`;
}
const PAGE = 'edges { node { id title description venue startsAt saleStartsAt price currency ticketsTotal } }';
/** Fifteen pages of 100 events: within the alias limit, but far over the cost limit. */
const COSTLY_LITERAL = aliased(15, `events(first: 100) { ${PAGE} }`);
/** The same with the page size in a variable, the way the limit was bypassed. */
const COSTLY_VARIABLE = aliased(15, `events(first: $n) { ${PAGE} }`, '($n: Int)');
/** The same with the page size in the variable's default. */
const COSTLY_VARIABLE_DEFAULT = aliased(15, `events(first: $n) { ${PAGE} }`, '($n: Int = 100)');
/** Without `first`, each list counts its default page size (20 events). */
const COSTLY_DEFAULT_PAGE = aliased(15, `events { ${PAGE} }`);
const TOO_MANY_DIRECTIVES = `{ ${'__typename @skip(if: false) '.repeat(30)}}`;

describe.each(paths)('query limits on %s', (_name, send) => {
  it('accepts an ordinary query', async () => {
    const outcome = await send(dev, '{ events(first: 1) { totalCount } }');
    expect(outcome.errors).toBeUndefined();
    expect(outcome.data).toEqual({ events: { totalCount: 0 } });
  });

  it('refuses a query nested deeper than the limit without saying what the limit is', async () => {
    expectRefusedWithoutNumbers(await send(dev, TOO_DEEP));
  });

  it('refuses a query with too many aliases without saying what the limit is', async () => {
    expectRefusedWithoutNumbers(await send(dev, TOO_MANY_ALIASES));
  });

  it('refuses a query with too many tokens without saying what the limit is', async () => {
    expectRefusedWithoutNumbers(await send(dev, TOO_MANY_TOKENS));
  });

  it('refuses a query with too many directives without saying what the limit is', async () => {
    expectRefusedWithoutNumbers(await send(dev, TOO_MANY_DIRECTIVES));
  });

  it('refuses a query over the cost limit with literal page sizes, without saying what the limit is', async () => {
    expectCostRefused(await send(dev, COSTLY_LITERAL));
  });

  it('counts the page size given in a variable: refused with a large one, run with a small one', async () => {
    expectCostRefused(await send(dev, COSTLY_VARIABLE, { n: 100 }));
    const small = await send(dev, COSTLY_VARIABLE, { n: 1 });
    expect(small.errors).toBeUndefined();
    expect(small.data).toMatchObject({ a0: { edges: [] }, a14: { edges: [] } });
  });

  it("counts a variable's default page size when the variable is not given", async () => {
    expectCostRefused(await send(dev, COSTLY_VARIABLE_DEFAULT));
    expectCostRefused(await send(dev, COSTLY_VARIABLE_DEFAULT, { n: null }));
  });

  it("counts a list's default page size when `first` is absent", async () => {
    expectCostRefused(await send(dev, COSTLY_DEFAULT_PAGE));
  });
});

function expectCostRefused(outcome: Outcome): void {
  expectRefusedWithoutNumbers(outcome);
  expect(outcome.errors?.[0]).toMatchObject({
    message: 'Query cost limit exceeded.',
    extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
  });
}

describe('documents that do not parse, over HTTP', () => {
  it.each([
    ['a plain request', {}],
    ['a request with extensions (the full server)', { extensions: {} }],
  ])('answer 400 GRAPHQL_PARSE_FAILED for %s, hiding the token limit', async (_how, extra) => {
    const tooMany = await overHttp(dev, { query: TOO_MANY_TOKENS, ...extra });
    expect(tooMany.status).toBe(400);
    expect(tooMany.errors?.[0]).toMatchObject({
      message: 'Syntax Error: Query validation error.',
      extensions: { code: 'GRAPHQL_PARSE_FAILED' },
    });
    const broken = await overHttp(dev, { query: '{ events(', ...extra });
    expect(broken.status).toBe(400);
    expect(broken.errors?.[0]?.message).toMatch(/^Syntax Error: Expected Name, found <EOF>/);
    expect(broken.errors?.[0]?.extensions?.['code']).toBe('GRAPHQL_PARSE_FAILED');
  });
});

describe('batched operations', () => {
  const query = '{ events(first: 1) { totalCount } }';

  it('refuses an array of operations in one HTTP body', async () => {
    const outcome = await overHttp(dev, [{ query }, { query }]);
    expect(outcome.status).toBe(400);
    expectRefusedWithoutNumbers(outcome);
  });

  it('closes a graphql-ws connection that sends an array of operations as one message (4400)', async () => {
    const socket = new WebSocket(dev.wsUrl, 'graphql-transport-ws');
    const closed = once(socket, 'close') as Promise<[number, Buffer]>;
    await once(socket, 'open');
    socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
    await once(socket, 'message'); // connection_ack
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: [{ query }, { query }] }));
    const [code] = await closed;
    expect(code).toBe(4400);
  });
});

describe.each(transports)('field suggestions over %s', (_name, send) => {
  const TYPO = '{ events(first: 1) { totalCont } }';

  it('suggests the field that was meant in development', async () => {
    const outcome = await send(dev, TYPO);
    expect(outcome.errors?.[0]?.message).toMatch(/Did you mean "totalCount"\?/);
  });

  it('names no other field in production', async () => {
    const outcome = await send(prod, TYPO);
    expect(outcome.errors?.[0]?.message).toMatch(/Cannot query field "totalCont"/);
    expect(outcome.errors?.[0]?.message).not.toMatch(/Did you mean|totalCount/);
  });
});

describe('request body size', () => {
  /** POSTs `size` bytes of JSON, with a Content-Length or chunked, and reads the answer. */
  function post(sys: TestSystem, size: number, chunked: boolean): Promise<{ status: number; body: string }> {
    const body = Buffer.from(JSON.stringify({ query: '{ __typename }', pad: 'x'.repeat(size) }));
    return new Promise((resolve, reject) => {
      const req = request(sys.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(chunked ? {} : { 'content-length': body.length }) },
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      // The server may stop reading once it has answered 413; a late write error is expected then.
      req.on('error', (err) => (req.writableFinished ? undefined : reject(err)));
      if (chunked) for (let i = 0; i < body.length; i += 16 * 1024) req.write(body.subarray(i, i + 16 * 1024));
      else req.write(body);
      req.end();
    });
  }

  it.each([
    ['declared in Content-Length', false],
    ['streamed in chunks', true],
  ])('refuses a body over 100 KiB %s with 413, and still serves a normal one', async (_how, chunked) => {
    const tooLarge = await post(dev, 200 * 1024, chunked);
    expect(tooLarge.status).toBe(413);
    expect(JSON.parse(tooLarge.body)).toEqual({ error: 'request body exceeds 102400 bytes' });
    const fine = await post(dev, 10 * 1024, chunked);
    expect(fine.status).toBe(200);
    expect(JSON.parse(fine.body)).toEqual({ data: { __typename: 'Query' } });
  });
});
