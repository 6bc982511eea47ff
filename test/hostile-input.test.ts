import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  buildSchema,
  print,
  getNamedType,
  getNullableType,
  isEnumType,
  isInputObjectType,
  isListType,
  isObjectType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
} from 'graphql';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  BookTicketDocument,
  BookingUpdatedDocument,
  CreateEventDocument,
  EventsDocument,
  MeDocument,
  MyOrdersDocument,
  NotificationReceivedDocument,
  NotificationsDocument,
  SignUpDocument,
} from './generated/graphql.js';
import { ADMIN_EMAIL, HOUR, createEvent, eventInput, signUp } from './support/fixtures.js';
import { eventually, startTestSystem, subscribe, wsClient, type TestSystem } from './support/system.js';

/**
 * Hostile values sent to every argument of every operation of the schema, over every path
 * (the compiled fast path, Apollo, graphql-ws), as literals and as variables, by an anonymous
 * caller, a buyer and an admin. Nothing may answer INTERNAL_SERVER_ERROR, text that is not text
 * is BAD_USER_INPUT naming the field, and nothing changes in Postgres or Redis.
 *
 * The cases come from the checked-in schema (test/schema.test.ts proves it is the code's): a new
 * argument is attacked without anyone writing a case, and a new operation fails the first test
 * until it has a valid baseline below.
 */

const schema = buildSchema(readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8'));
const ROOTS = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].filter(
  (t): t is GraphQLObjectType => t !== null && t !== undefined,
);

/** The one field where tab and line breaks are text (an event's description has paragraphs). */
const MULTILINE = new Set(['createEvent.input.description']);

interface Fixtures {
  /** On sale. */
  eventId: string;
  /** Its sale opens tomorrow: a booking with well-formed arguments is REJECTED NOT_ON_SALE, with no I/O. */
  laterEventId: string;
  buyerEmail: string;
}

/**
 * For each operation, the arguments of a request that is well-formed; each case then spoils one of
 * them. Where a well-formed request would change something, it is made to fail on a rule of the
 * domain instead (an e-mail already taken, a sale not open yet, a sale that opens after the event,
 * an unknown platform): a spoiled value that happens to be fine must still change nothing, and
 * the refusal of one that is not must name its own field.
 */
const BASELINES: Record<string, (f: Fixtures) => Record<string, unknown>> = {
  me: () => ({}),
  booking: () => ({ id: randomUUID() }),
  events: () => ({ query: 'hostile', first: 5, includeEnded: false }),
  event: (f) => ({ id: f.eventId }),
  notifications: () => ({ first: 5 }),
  order: () => ({ id: randomUUID() }),
  myOrders: () => ({ first: 5 }),
  signUp: (f) => ({ email: f.buyerEmail, password: 'short', name: 'New Buyer' }),
  signIn: (f) => ({ email: f.buyerEmail, password: 'password123' }),
  bookTicket: (f) => ({ eventId: f.laterEventId, quantity: 1, idempotencyKey: 'hostile-key' }),
  createEvent: () => ({
    input: eventInput({
      title: 'Hostile Fest',
      description: 'line one\nline two',
      startsAt: new Date(Date.now() + 2 * HOUR).toISOString(),
      saleStartsAt: new Date(Date.now() + 3 * HOUR).toISOString(),
    }),
  }),
  markNotificationRead: () => ({ id: randomUUID() }),
  registerDevice: () => ({ token: 'fcm-token-abcdefghijklmnop', platform: 'symbian' }),
  payOrder: () => ({ orderId: randomUUID() }),
  simulatePayment: () => ({ orderId: randomUUID(), outcome: 'SUCCEED' }),
  cancelOrder: () => ({ orderId: randomUUID() }),
  signOutEverywhere: () => ({}),
  saleStats: (f) => ({ eventId: f.eventId }),
  bookingUpdated: () => ({ id: randomUUID() }),
  stockChanged: (f) => ({ eventId: f.eventId }),
  notificationReceived: () => ({}),
  orderUpdated: () => ({ id: randomUUID() }),
  paymentCountdown: () => ({ orderId: randomUUID() }),
  joinWaitingRoom: (f) => ({ eventId: f.eventId }),
  queuePass: (f) => ({ eventId: f.eventId }),
  queuePassUpdated: (f) => ({ eventId: f.eventId }),
};

/** Values that are not text: each must be refused with BAD_USER_INPUT naming the field. */
const NOT_TEXT: [string, string][] = [
  ['NUL', 'a\u0000b'],
  ['a C0 control', 'a\u0001b'],
  ['an ANSI escape', '\u001b[2Jx'],
  ['a line feed', 'a\nb'],
  ['a tab', 'a\tb'],
  ['DEL', 'a\u007fb'],
  ['a C1 control', 'a\u0085b'],
  ['a lone high surrogate', 'a\ud800b'],
  ['a lone low surrogate', 'a\udfffb'],
  ['a reversed surrogate pair', '\udc00\ud800'],
];
const LINE_BREAKS = new Set(['a line feed', 'a tab']);

/** Odd but well-formed values: any clear answer, never an internal error, never a change. */
const ODD_TEXT: [string, unknown][] = [
  ['an empty string', ''],
  ['blanks', '   '],
  ['a 50 KB string', 'x'.repeat(50_000)],
  ['a non-UUID id', 'not-a-uuid'],
  ['a forged UUID', '6b1f0c8e-0000-4000-8000-000000000001'],
  ['SQL', "' or 1=1; drop table users; --"],
  ['a number', 12],
];
const cursor = (parts: unknown[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');
/** Cursors no list made: each must be BAD_USER_INPUT on `after`. */
const FORGED_CURSORS: [string, string][] = [
  ['garbage cursor', '%%%not-base64%%%'],
  ['cursor of a bad timestamp', cursor(['upcoming', '2026-99-99 99:99:99+00', randomUUID()])],
  ['orders cursor of a bad timestamp', cursor(['orders', '2026-02-30 12:00:00+00', randomUUID()])],
  ['inbox cursor of a non-UUID', cursor(['inbox', '2026-02-01 12:00:00+00', 'x'])],
  ['search cursor of a huge rank', cursor(['search', '1e999', '2026-02-01 12:00:00+00', randomUUID()])],
  ['cursor of an injected timestamp', cursor(['upcoming', "2026-01-01'; drop table users; --", randomUUID()])],
  ['cursor with NUL', cursor(['orders', '2026-02-01 12:00:00+00\u0000', randomUUID()])],
];
const ODD_NUMBERS: [string, unknown][] = [
  ['2^31', 2 ** 31],
  ['-2^31 - 1', -(2 ** 31) - 1],
  ['-1', -1],
  ['1e308', 1e308],
  ['a fraction', 2.5],
  ['a numeric string', '12'],
];
const ODD_OTHER: [string, unknown][] = [
  ['an unknown name', 'NOPE'],
  ['NUL', 'SUCCEED\u0000'],
  ['a number', 1],
  ['a date that does not exist', '2026-02-30T00:00:00Z'],
  ['a date out of range', '+275760-09-13T00:00:00.001Z'],
];

type Expectation = 'not-text' | 'cursor' | 'odd';
interface Case {
  operation: GraphQLField<unknown, unknown>;
  root: GraphQLObjectType;
  /** Where the spoiled value sits, e.g. ['input', 'title']; empty for an operation without arguments. */
  slot: string[];
  what: string;
  value: unknown;
  expect: Expectation;
}

/** Every leaf of an operation's arguments, at any depth of input objects. */
function slotsOf(field: GraphQLField<unknown, unknown>): { path: string[]; type: GraphQLInputType }[] {
  const slots: { path: string[]; type: GraphQLInputType }[] = [];
  const walk = (type: GraphQLInputType, path: string[]) => {
    const named = getNamedType(type);
    if (isInputObjectType(named)) {
      for (const f of Object.values(named.getFields())) walk(f.type, [...path, f.name]);
    } else {
      slots.push({ path, type });
    }
  };
  for (const arg of field.args) walk(arg.type, [arg.name]);
  return slots;
}

/**
 * Operations without arguments whose plain call changes the callers themselves: nothing to
 * attack, and sending one would end the sessions the rest of the corpus runs on.
 */
const NOT_SENT = new Set(['signOutEverywhere']);

function casesOf(root: GraphQLObjectType, operation: GraphQLField<unknown, unknown>): Case[] {
  const slots = slotsOf(operation);
  if (slots.length === 0 && NOT_SENT.has(operation.name)) return [];
  if (slots.length === 0) return [{ root, operation, slot: [], what: 'no arguments', value: undefined, expect: 'odd' }];
  return slots.flatMap(({ path, type }) => {
    const named = getNamedType(type).name;
    const at = (what: string, value: unknown, expect: Expectation): Case => ({
      root,
      operation,
      slot: path,
      what,
      value,
      expect,
    });
    if (named === 'String' || named === 'ID') {
      const multiline = MULTILINE.has([operation.name, ...path].join('.'));
      return [
        ...NOT_TEXT.map(([what, v]) => at(what, v, multiline && LINE_BREAKS.has(what) ? 'odd' : 'not-text')),
        ...ODD_TEXT.map(([what, v]) => at(what, v, 'odd')),
        // `after` is the Relay name of a cursor argument.
        ...(path.at(-1) === 'after' ? FORGED_CURSORS.map(([what, v]) => at(what, v, 'cursor')) : []),
      ];
    }
    if (named === 'Int' || named === 'Float') return ODD_NUMBERS.map(([what, v]) => at(what, v, 'odd'));
    return ODD_OTHER.map(([what, v]) => at(what, v, 'odd'));
  });
}

/** The baseline with the value at `path` replaced. */
function spoil(args: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  if (path.length === 0) return args;
  const [head, ...rest] = path as [string, ...string[]];
  const inner = (args[head] ?? {}) as Record<string, unknown>;
  return { ...args, [head]: rest.length === 0 ? value : spoil(inner, rest, value) };
}

/** A GraphQL literal for a value: strings escaped the JSON way plus every control character. */
function literal(value: unknown, type: GraphQLInputType): string {
  if (value === null || value === undefined) return 'null';
  const inner = getNullableType(type);
  if (isListType(inner)) {
    return `[${(Array.isArray(value) ? value : [value]).map((v) => literal(v, inner.ofType)).join(', ')}]`;
  }
  if (isInputObjectType(inner) && typeof value === 'object') {
    const fields = inner.getFields();
    const entries = Object.entries(value as Record<string, unknown>).filter(([k]) => fields[k]);
    return `{ ${entries.map(([k, v]) => `${k}: ${literal(v, fields[k]!.type)}`).join(', ')} }`;
  }
  if (isEnumType(inner) && typeof value === 'string' && /^[A-Z_]+$/.test(value)) return value;
  if (typeof value === 'string') {
    return JSON.stringify(value).replace(
      /[\u007f-\u009f]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  }
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
}

function selectionOf(operation: GraphQLField<unknown, unknown>): string {
  return isObjectType(getNamedType(operation.type)) ? ' { __typename }' : '';
}

/** The case as a document and variables: every argument a variable, or every argument inline. */
function documentOf(c: Case, args: Record<string, unknown>, inline: boolean) {
  const kind =
    c.root === schema.getMutationType()
      ? 'mutation'
      : c.root === schema.getSubscriptionType()
        ? 'subscription'
        : 'query';
  const present = c.operation.args.filter((a) => args[a.name] !== undefined);
  const argList = present.map((a) => `${a.name}: ${inline ? literal(args[a.name], a.type) : `$${a.name}`}`).join(', ');
  const varDefs = present.map((a) => `$${a.name}: ${a.type.toString()}`).join(', ');
  const call = `${c.operation.name}${argList ? `(${argList})` : ''}${selectionOf(c.operation)}`;
  return inline
    ? { query: `${kind} Hostile { ${call} }`, variables: {} }
    : { query: `${kind} Hostile${varDefs ? `(${varDefs})` : ''} { ${call} }`, variables: args };
}

interface Answer {
  status: number;
  errors: { message: string; extensions?: { code?: string } }[];
  /** The transport refused the request as a whole (HTTP 413, a closed socket). */
  refusedWhole?: boolean;
  /** A subscription that was accepted and has nothing to send yet. */
  silent?: boolean;
  /** The operation completed without a result (never an answer to a query or mutation). */
  noResult?: boolean;
}

let sys: TestSystem;
let fixtures: Fixtures;
let callers: Record<'anonymous' | 'buyer' | 'admin', string | undefined>;
let redis: Redis;

beforeAll(async () => {
  sys = await startTestSystem();
  redis = new Redis(sys.config.redisUrl);
  const admin = await signUp(sys, ADMIN_EMAIL);
  const buyer = await signUp(sys);
  const event = await createEvent(sys, admin.token, { title: 'Hostile Input Night' });
  const later = await createEvent(sys, admin.token, {
    title: 'Hostile Input Tomorrow',
    saleStartsAt: new Date(Date.now() + 24 * HOUR).toISOString(),
  });
  fixtures = { eventId: event.id, laterEventId: later.id, buyerEmail: buyer.user.email };
  callers = { anonymous: undefined, buyer: buyer.token, admin: admin.token };
  // The stock sweep loads an event on sale into Redis; wait for it so the snapshot is at rest.
  await eventually(async () => ((await sys.app.services.gate.inspect(event.id)).stock !== null ? true : undefined));
});
afterAll(async () => {
  redis.disconnect();
  await sys.stop();
});

const TABLES = ['users', 'events', 'stock', 'orders', 'bookings', 'payments', 'notifications', 'device_tokens'];

/** Row counts of every table a request could write, and every Redis key of the namespace. */
async function snapshot() {
  const em = sys.app.infra.orm.em.fork();
  const rows: Record<string, number> = {};
  for (const table of TABLES) {
    const [row] = await em.execute<{ n: string }[]>(`select count(*) as n from ${table}`);
    rows[table] = Number(row!.n);
  }
  const keys: string[] = [];
  let scan = '0';
  do {
    const [next, batch] = await redis.scan(scan, 'MATCH', `${sys.config.namespace}:*`, 'COUNT', 1000);
    scan = next;
    keys.push(...batch);
  } while (scan !== '0');
  // The periodic sweeps' leases come and go on their own clock; no request touches them. Sign-in
  // throttling counts every well-formed attempt (a wrong password too), which is its job.
  const ns = sys.config.namespace;
  return { rows, keys: keys.filter((k) => !k.startsWith(`${ns}:lock:`) && !k.startsWith(`${ns}:auth:`)).sort() };
}

async function internalErrors(): Promise<number> {
  const metric = await sys.app.infra.metrics.graphqlErrors.get();
  return metric.values.find((v) => v.labels.code === 'INTERNAL_SERVER_ERROR')?.value ?? 0;
}

async function overHttp(
  request: { query: string; variables: Record<string, unknown> },
  token: string | undefined,
  viaApollo: boolean,
): Promise<Answer> {
  const res = await fetch(sys.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    // `extensions` keeps a request off the compiled fast path, so Apollo answers it.
    body: JSON.stringify(viaApollo ? { ...request, extensions: {} } : request),
  });
  const text = await res.text();
  if (res.status === 413) return { status: 413, errors: [], refusedWhole: true };
  const body = JSON.parse(text) as { errors?: Answer['errors'] };
  return { status: res.status, errors: body.errors ?? [] };
}

/**
 * One operation over graphql-ws: its first result (or error), then it is stopped. A subscription
 * may be accepted and have nothing to send (no notification yet): `silentAfterMs` of quiet is that
 * answer; a refusal would have come at once.
 */
function overWs(
  client: ReturnType<typeof wsClient>,
  request: { query: string; variables: Record<string, unknown> },
  silentAfterMs?: number,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const subscription: { stop?: () => void } = {};
    const finish = (answer: Answer) => {
      clearTimeout(timer);
      subscription.stop?.();
      resolve(answer);
    };
    const timer = silentAfterMs
      ? setTimeout(() => finish({ status: 200, errors: [], silent: true }), silentAfterMs)
      : setTimeout(() => reject(new Error(`no answer over graphql-ws to ${request.query}`)), 10_000);
    subscription.stop = client.subscribe(request, {
      next: (msg) => finish({ status: 200, errors: (msg.errors ?? []) as Answer['errors'] }),
      error: (err) => {
        // graphql-ws hands operation errors as an array; a closed socket as a CloseEvent.
        if (Array.isArray(err)) finish({ status: 200, errors: err as Answer['errors'] });
        else if (typeof err === 'object' && err !== null && 'code' in err) {
          finish({ status: Number((err as { code: number }).code), errors: [], refusedWhole: true });
        } else reject(err instanceof Error ? err : new Error(String(err)));
      },
      complete: () => finish({ status: 200, errors: [], noResult: true }),
    });
  });
}

/** Runs `tasks` with at most `limit` in flight. */
async function pooled<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]!();
      }
    }),
  );
  return results;
}

/** What is wrong with an answer, or null. */
function judge(c: Case, role: keyof typeof callers, path: string, answer: Answer): string | null {
  const codes = answer.errors.map((e) => e.extensions?.code);
  if (answer.status >= 500 || codes.includes('INTERNAL_SERVER_ERROR'))
    return `internal error: ${JSON.stringify(answer)}`;
  // HTTP refuses a subscription as a whole (BAD_REQUEST, or earlier when it does not even parse).
  if (c.root === schema.getSubscriptionType() && path !== 'ws') {
    return answer.status === 400 && answer.errors.length > 0
      ? null
      : `subscription over HTTP: ${JSON.stringify(answer)}`;
  }
  if (answer.refusedWhole) return `refused whole (${answer.status}), expected an answer`;
  if (answer.noResult && c.root !== schema.getSubscriptionType()) return 'completed without a result';
  if (c.expect === 'odd') return null;
  if (answer.silent) return `accepted, expected BAD_USER_INPUT on ${c.slot.join('.')}`;
  const field = c.slot.join('.');
  const named = answer.errors.find(
    (e) =>
      e.extensions?.code === 'BAD_USER_INPUT' && e.message.startsWith(c.expect === 'cursor' ? 'after:' : `${field}:`),
  );
  if (named) return null;
  // A cursor is only read for a caller allowed to list; a lone surrogate inline does not parse.
  if (c.expect === 'cursor' && role === 'anonymous' && codes.includes('UNAUTHENTICATED')) return null;
  if (c.expect === 'not-text' && codes.includes('GRAPHQL_PARSE_FAILED') && /surrogate/.test(c.what)) return null;
  return `expected BAD_USER_INPUT on ${field}, got ${JSON.stringify(answer.errors)}`;
}

describe('hostile input', () => {
  it('every operation of the schema has a baseline, so every one of them is attacked', () => {
    const operations = ROOTS.flatMap((root) => Object.keys(root.getFields()));
    expect(
      operations.filter((name) => !BASELINES[name]),
      'operations without a baseline in BASELINES',
    ).toEqual([]);
    expect(
      Object.keys(BASELINES).filter((name) => !operations.includes(name)),
      'baselines of no operation',
    ).toEqual([]);
  });

  it('no value, on any path, for any caller, answers an internal error or changes anything; text that is not text is refused naming the field', async () => {
    const cases = ROOTS.flatMap((root) => Object.values(root.getFields()).map((op) => casesOf(root, op))).flat();
    const sockets = {
      anonymous: wsClient(sys.wsUrl),
      buyer: wsClient(sys.wsUrl, callers.buyer),
      admin: wsClient(sys.wsUrl, callers.admin),
    };
    const before = await snapshot();
    const internalBefore = await internalErrors();
    const failures: string[] = [];
    let sent = 0;
    try {
      // Values that must be refused: every path and caller with variables, and literals (coerced by
      // the same code on every path) from the buyer. Odd values, which reach the services (and
      // argon2 for signIn and signUp, most of this test's time): fewer combinations.
      const every = (['anonymous', 'buyer', 'admin'] as const).flatMap((role) =>
        ([false, true] as const)
          .filter((inline) => !inline || role === 'buyer')
          .flatMap((inline) => (['compiled', 'apollo', 'ws'] as const).map((path) => ({ role, inline, path }))),
      );
      const some = every.filter(({ role, inline, path }) =>
        role === 'buyer' ? !inline || path === 'compiled' : (role === 'anonymous') === (path === 'compiled'),
      );
      const tasks = cases.flatMap((c) =>
        (c.expect === 'odd' ? some : every).map(({ role, inline, path }) => async () => {
          const args = spoil(BASELINES[c.operation.name]!(fixtures), c.slot, c.value);
          const request = documentOf(c, args, inline);
          const subscription = c.root === schema.getSubscriptionType();
          const answer =
            path === 'ws'
              ? await overWs(sockets[role], request, subscription ? 1000 : undefined)
              : await overHttp(request, callers[role], path === 'apollo');
          sent += 1;
          const problem = judge(c, role, path, answer);
          if (problem) {
            failures.push(
              `${c.operation.name}(${c.slot.join('.')} = ${c.what}) ${inline ? 'inline' : 'as variables'} by ${role} over ${path}: ${problem}`,
            );
          }
        }),
      );
      await pooled(tasks, 6);
    } finally {
      for (const socket of Object.values(sockets)) await socket.dispose();
    }
    expect(failures.slice(0, 40), `${failures.length} of ${sent} answers`).toEqual([]);
    expect(await internalErrors(), 'unexpected errors logged').toBe(internalBefore);
    expect(await snapshot()).toEqual(before);
  }, 600_000);

  it('a 1 MB string in any operation is refused whole by the transport (HTTP 413, the socket closed) and changes nothing', async () => {
    const huge = 'x'.repeat(1024 * 1024);
    const before = await snapshot();
    const internalBefore = await internalErrors();
    for (const root of ROOTS) {
      for (const operation of Object.values(root.getFields())) {
        const slot = slotsOf(operation).find(({ type }) => ['String', 'ID'].includes(getNamedType(type).name));
        if (!slot) continue;
        const c: Case = { root, operation, slot: slot.path, what: '1 MB', value: huge, expect: 'odd' };
        const request = documentOf(c, spoil(BASELINES[operation.name]!(fixtures), slot.path, huge), false);
        expect(await overHttp(request, callers.buyer, false), operation.name).toMatchObject({ status: 413 });
        const socket = wsClient(sys.wsUrl, callers.buyer);
        try {
          // 1009: message too big (the server's maxPayload).
          expect(await overWs(socket, request), operation.name).toMatchObject({ status: 1009, refusedWhole: true });
        } finally {
          await socket.dispose();
        }
      }
    }
    expect(await internalErrors()).toBe(internalBefore);
    expect(await snapshot()).toEqual(before);
  });
});

describe('the observed cases', () => {
  async function served(path: 'compiled' | 'full'): Promise<number> {
    const metric = await sys.app.infra.metrics.graphqlRequests.get();
    return metric.values.find((v) => v.labels.path === path)?.value ?? 0;
  }

  /** One request on each path: the compiled fast path and Apollo (told apart by the path metric), then graphql-ws. */
  async function onEveryPath(
    document: Parameters<typeof print>[0],
    variables: Record<string, unknown>,
    token: string | undefined,
  ): Promise<Record<'compiled' | 'apollo' | 'ws', Answer>> {
    const request = { query: print(document), variables };
    const [compiledBefore, fullBefore] = [await served('compiled'), await served('full')];
    const compiled = await overHttp(request, token, false);
    expect(await served('compiled'), 'answered on the compiled path').toBe(compiledBefore + 1);
    const apollo = await overHttp(request, token, true);
    expect(await served('full'), 'answered by Apollo').toBe(fullBefore + 1);
    const socket = wsClient(sys.wsUrl, token);
    try {
      return { compiled, apollo, ws: await overWs(socket, request) };
    } finally {
      await socket.dispose();
    }
  }

  function refusedNaming(field: string, problem = 'must not contain control characters') {
    return {
      errors: [
        expect.objectContaining({
          message: `${field}: ${problem}`,
          extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', field }),
        }),
      ],
    };
  }

  it('a NUL in bookTicket.idempotencyKey for an event on sale is BAD_USER_INPUT on every path, and nothing is queued', async () => {
    const before = await snapshot();
    const answers = await onEveryPath(
      BookTicketDocument,
      { eventId: fixtures.eventId, idempotencyKey: 'poison\u0000key' },
      callers.buyer,
    );
    for (const answer of Object.values(answers)) expect(answer).toMatchObject(refusedNaming('idempotencyKey'));
    expect(await snapshot()).toEqual(before);
  });

  it('a NUL in a search query, an e-mail, a name or a title is BAD_USER_INPUT naming it on every path', async () => {
    const cases: [Parameters<typeof print>[0], Record<string, unknown>, string | undefined, string][] = [
      [EventsDocument, { query: 'jazz\u0000' }, undefined, 'query'],
      [SignUpDocument, { email: 'a\u0000@example.test', password: 'password123', name: 'A' }, undefined, 'email'],
      [SignUpDocument, { email: 'nul-name@example.test', password: 'password123', name: 'A\u0000' }, undefined, 'name'],
      [CreateEventDocument, { input: eventInput({ title: 'Nul\u0000Fest' }) }, callers.admin, 'input.title'],
    ];
    for (const [document, variables, token, field] of cases) {
      const answers = await onEveryPath(document, variables, token);
      for (const answer of Object.values(answers)) expect(answer, field).toMatchObject(refusedNaming(field));
    }
  });

  it('line breaks are text in an event description and nowhere else', async () => {
    const refused = await onEveryPath(
      CreateEventDocument,
      { input: eventInput({ title: 'Two\nLines' }) },
      callers.admin,
    );
    for (const answer of Object.values(refused)) expect(answer).toMatchObject(refusedNaming('input.title'));
    const res = await overHttp(
      {
        query: print(CreateEventDocument),
        variables: { input: eventInput({ title: 'Paragraphs', description: 'One.\r\n\tTwo.' }) },
      },
      callers.admin,
      false,
    );
    expect(res.errors).toEqual([]);
  });

  it('forged cursors for events, myOrders and notifications are BAD_USER_INPUT on `after` on every path', async () => {
    const forged = cursor(['upcoming', '2026-99-99 99:99:99+00', 'not-a-uuid']);
    const cases: [Parameters<typeof print>[0], string][] = [
      [EventsDocument, cursor(['upcoming', '2026-99-99 99:99:99+00', randomUUID()])],
      [EventsDocument, cursor(['upcoming', '2026-01-01 00:00:00+00', 'not-a-uuid'])],
      [MyOrdersDocument, cursor(['orders', '2026-02-30 00:00:00+00', randomUUID()])],
      [NotificationsDocument, cursor(['inbox', '2026-01-01 00:00:00+00', 'x'])],
      [MyOrdersDocument, forged],
    ];
    for (const [document, after] of cases) {
      const answers = await onEveryPath(document, { after }, callers.buyer);
      for (const answer of Object.values(answers)) {
        expect(answer).toMatchObject(refusedNaming('after', 'is not a cursor of this list'));
      }
    }
  });

  it('a subscription refuses a control character in its arguments before it subscribes', async () => {
    const socket = wsClient(sys.wsUrl, callers.buyer);
    try {
      const answer = await overWs(socket, { query: print(BookingUpdatedDocument), variables: { id: 'x\u0000' } });
      expect(answer).toMatchObject(refusedNaming('id'));
    } finally {
      await socket.dispose();
    }
  });

  it('an operation stopped as soon as it answers leaves the other operations of its socket running', async () => {
    // The corpus stops every operation at its first answer, while others run on the same socket.
    const socket = wsClient(sys.wsUrl, callers.buyer);
    let connections = 0;
    socket.on('connected', () => (connections += 1));
    const live = subscribe(socket, NotificationReceivedDocument);
    try {
      for (let i = 0; i < 5; i += 1) {
        expect(await overWs(socket, { query: print(MeDocument), variables: {} })).toEqual({ status: 200, errors: [] });
      }
      expect(live.completed, 'the subscription was ended by another operation').toBe(false);
      expect(connections, 'the socket was closed under the subscription').toBe(1);
    } finally {
      live.unsubscribe();
      await socket.dispose();
    }
  });

  it('a message over the socket size limit closes the socket without an error log', async () => {
    const consoleError = vi.spyOn(console, 'error');
    const socket = wsClient(sys.wsUrl, callers.buyer);
    try {
      const answer = await overWs(socket, { query: print(EventsDocument), variables: { query: 'x'.repeat(200_000) } });
      expect(answer).toMatchObject({ status: 1009, refusedWhole: true });
      expect(consoleError).not.toHaveBeenCalled();
    } finally {
      consoleError.mockRestore();
      await socket.dispose();
    }
  });
});
