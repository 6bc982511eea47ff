/**
 * The steps the 2026-12 hardening put on every sold-out `bookTicket` and `event(id)` request, each
 * timed alone in this process, for one or more built checkouts:
 *
 *   npm run bench:steps -- --app before=../old-checkout --app after=.
 *
 * Per app (a built checkout: `<dir>/dist/src/…`, its own `node_modules` and `schema.graphql`), for
 * each step the app has: the nanoseconds of one call, the minimum over many short batches (a batch
 * takes about a millisecond, so most run undisturbed even on a busy machine; the minimum is one that
 * did). The steps: authenticating a cached token (`Authorization: Bearer …`, 5,000 buyers in
 * turn; with the revocation list where the app has one), the argument guard on bookTicket's and
 * event's arguments, the client address, and the query cost of the two documents. A step an app does
 * not have shows "—". Compare the sum with the gateway's whole cost per request (bench:cost).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type * as Graphql from 'graphql';
import { table } from './stats.js';

const SECRET = 's'.repeat(48);
const BUYERS = 5000;
const BOOK =
  'mutation Book($e: ID!, $k: String!) { bookTicket(eventId: $e, quantity: 1, idempotencyKey: $k) { id status reason } }';
const EVENT =
  'query Event($id: ID!) { event(id: $id) { id title venue startsAt saleStartsAt price currency ticketsTotal ticketsAvailable maxPerUser status } }';
const EVENT_ID = '6f0a4c1e-2b7d-4f5a-9c3e-8d1b2a7e4f60';

/** ns per call of `fn`: the fastest of `batches` batches of `batch` calls, after a warm-up. */
function nsPerCall(fn: (i: number) => unknown, batch = 2000, batches = 300): number {
  for (let i = 0; i < 20 * batch; i++) fn(i);
  let best = Infinity;
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn(i);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / batch);
  }
  return best;
}

/** A module of the app's build, or undefined when this build has none. */
/** A module of a build, at the first of its paths that build has (services moved into domain folders). */
async function appModule<T>(dir: string, ...paths: string[]): Promise<T | undefined> {
  for (const path of paths) {
    try {
      return (await import(pathToFileURL(resolve(dir, 'dist/src', path)).href)) as T;
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    }
  }
  return undefined;
}

interface Tokens {
  issue(subject: { id: string; email: string; role: 'USER'; tokenVersion: number }): Promise<string>;
  fromAuthorizationHeader(header: unknown): unknown;
}

type Resolver = (source: unknown, args: Record<string, unknown>, context: unknown, info: unknown) => unknown;

async function steps(dir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const graphql = createRequire(resolve(dir, 'package.json'))('graphql') as typeof Graphql;
  const schema = graphql.buildSchema(readFileSync(resolve(dir, 'schema.graphql'), 'utf8'));

  const { AccessTokens } = (await appModule<{ AccessTokens: new (s: string, ttl: number) => Tokens }>(
    dir,
    'services/auth/access-tokens.js',
    'services/access-tokens.js',
  ))!;
  const tokens = new AccessTokens(SECRET, 3600);
  const headers: string[] = [];
  for (let i = 0; i < BUYERS; i++) {
    const id = `11111111-1111-4111-8111-${String(i).padStart(12, '0')}`;
    // Each build's own tokens (an older one has no version claim).
    headers.push(
      `Bearer ${await tokens.issue({ id, email: `bench-${i}@example.test`, role: 'USER', tokenVersion: 0 })}`,
    );
  }
  type SessionsClass = new (deps: unknown) => { authenticate(h: unknown): unknown };
  const sessionsModule = await appModule<{ SessionService?: SessionsClass; Sessions?: SessionsClass }>(
    dir,
    'services/auth/session.service.js',
    'services/sessions.js',
  );
  const SessionsOfBuild = sessionsModule?.SessionService ?? sessionsModule?.Sessions;
  const authenticate = SessionsOfBuild
    ? (() => {
        const sessions = new SessionsOfBuild({ tokens, tokenTtlSeconds: 3600 });
        return (h: string) => sessions.authenticate(h);
      })()
    : (h: string) => tokens.fromAuthorizationHeader(h);
  for (const h of headers) authenticate(h);
  out.set(
    'authenticate a cached token',
    nsPerCall((i) => authenticate(headers[i % BUYERS]!)),
  );

  const guard = await appModule<{ guardArguments(s: Graphql.GraphQLSchema): Graphql.GraphQLSchema }>(
    dir,
    'schema/argument-guard.js',
  );
  if (guard) {
    schema.getMutationType()!.getFields()['bookTicket']!.resolve = () => null;
    schema.getQueryType()!.getFields()['event']!.resolve = () => null;
    guard.guardArguments(schema);
    const book = schema.getMutationType()!.getFields()['bookTicket']!.resolve as Resolver;
    const event = schema.getQueryType()!.getFields()['event']!.resolve as Resolver;
    const keys = Array.from({ length: 1000 }, (_, i) => ({
      eventId: EVENT_ID,
      quantity: 1,
      idempotencyKey: `late-${i}`,
    }));
    out.set(
      'argument guard: bookTicket',
      nsPerCall((i) => book(null, keys[i % 1000]!, null, null)),
    );
    out.set(
      'argument guard: event(id)',
      nsPerCall(() => event(null, { id: EVENT_ID }, null, null)),
    );
  }

  const address = await appModule<{ clientAddress(req: unknown, proxies: ReadonlySet<string>): string }>(
    dir,
    'http/client-address.js',
  );
  if (address) {
    const req = { socket: { remoteAddress: '::ffff:127.0.0.1' }, headers: {} };
    const none = new Set<string>();
    out.set(
      'client address',
      nsPerCall(() => address.clientAddress(req, none)),
    );
  }

  const cost = await appModule<{
    costFormula(s: Graphql.GraphQLSchema, d: Graphql.DocumentNode, o: Graphql.OperationDefinitionNode): unknown;
    queryCost(formula: unknown, variables: unknown): number;
  }>(dir, 'http/query-cost.js');
  if (cost) {
    for (const [name, text, variables] of [
      ['query cost: bookTicket', BOOK, { e: EVENT_ID, k: 'late-1' }],
      ['query cost: event(id)', EVENT, { id: EVENT_ID }],
    ] as const) {
      const document = graphql.parse(text);
      const formula = cost.costFormula(schema, document, document.definitions[0] as Graphql.OperationDefinitionNode);
      out.set(
        name,
        nsPerCall(() => cost.queryCost(formula, variables)),
      );
    }
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { app: { type: 'string', multiple: true } } });
  const apps = (values.app ?? ['.']).map((spec) => {
    const at = spec.indexOf('=');
    const dir = resolve(at < 0 ? spec : spec.slice(at + 1));
    return { label: at < 0 ? basename(dir) : spec.slice(0, at), dir };
  });
  const results: Map<string, number>[] = [];
  for (const app of apps) {
    process.stderr.write(`${app.label}: timing…\n`);
    results.push(await steps(app.dir));
  }
  const names = [...new Set(results.flatMap((r) => [...r.keys()]))];
  const cell = (r: Map<string, number>, name: string) => (r.has(name) ? r.get(name)!.toFixed(0) : '—');
  const sum = (r: Map<string, number>, path: string) =>
    [...r].filter(([n]) => !n.includes(':') || n.endsWith(path)).reduce((s, [, ns]) => s + ns, 0);
  console.log(
    `ns per call (fastest batch)\n${table([
      ['step', ...apps.map((a) => a.label)],
      ...names.map((n) => [n, ...results.map((r) => cell(r, n))]),
      ['sum for sold-out bookTicket', ...results.map((r) => sum(r, 'bookTicket').toFixed(0))],
      [
        'sum for event(id), anonymous',
        ...results.map((r) => (sum(r, 'event(id)') - r.get('authenticate a cached token')!).toFixed(0)),
      ],
    ])}`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
