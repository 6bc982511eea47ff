import { randomBytes } from 'node:crypto';
import { print } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { createClient, type Client, type FormattedExecutionResult, type Sink, type SubscribePayload } from 'graphql-ws';
import { startApp, type App } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { urlsFromEnv } from '../../scripts/local-services.js';
import { createScratchDatabase, dropDatabase } from '../../src/infra/database.js';
import { deleteNamespace, scratchNamespace } from '../../src/infra/namespace.js';
import { isCluster } from '../../src/infra/redis.js';
import { createLogger } from '../../src/logger.js';
import { testLogDestination } from './test-logs.js';

/**
 * One isolated copy of the system for one test file: its own database, Redis key prefix and NATS
 * subjects/streams (the namespace), talking to the real Postgres, Redis and NATS.
 */
export interface TestSystem {
  config: Config;
  app: App;
  url: string;
  wsUrl: string;
  /** Starts another process-like instance on the same database and namespace (e.g. a second gateway). */
  startInstance(env?: Record<string, string>): Promise<App>;
  stop(): Promise<void>;
}

/**
 * `env` is added to the process environment. DATABASE_URL (there or in `env`) names only the
 * server: the system always makes a database and a namespace of its own, and stop() drops those
 * and nothing else, whatever the URLs say. DATABASE_READ_URL, when set, names the server of a
 * streaming replica of DATABASE_URL's; the system reads its own database there.
 */
export async function startTestSystem(env: Record<string, string> = {}): Promise<TestSystem> {
  const namespace = scratchNamespace('t');
  const databaseUrl = await createScratchDatabase(env['DATABASE_URL'] ?? urlsFromEnv().databaseUrl, namespace);
  const baseEnv: Record<string, string | undefined> = {
    ...process.env,
    NODE_ENV: 'test',
    PORT: '0',
    ROLE: 'all',
    // To a file (see test-logs.ts), so the whole story is there when a test fails.
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info',
    JWT_SECRET: randomBytes(32).toString('hex'),
    ADMIN_EMAILS: 'admin@example.test',
    // Every test client is 127.0.0.1: sign-in and sign-up throttling is off unless a test sets it.
    SIGNIN_FAILURES_PER_ACCOUNT: '1000000',
    SIGNIN_FAILURES_PER_ADDRESS: '1000000',
    SIGNUPS_PER_ADDRESS_PER_HOUR: '1000000',
    // Every test client connects from 127.0.0.1; tests of the cap set their own.
    WS_MAX_SOCKETS_PER_ADDRESS: '10000',
    ...env,
    DATABASE_URL: databaseUrl,
    NAMESPACE: namespace,
  };
  // A replica holds what the primary holds: the same scratch database, on the replica's server.
  const readUrl = baseEnv['DATABASE_READ_URL'];
  if (readUrl && URL.canParse(readUrl)) baseEnv['DATABASE_READ_URL'] = sameDatabase(readUrl, databaseUrl);
  let config: Config;
  try {
    config = loadConfig(baseEnv);
  } catch (err) {
    await dropDatabase(databaseUrl).catch(() => undefined);
    throw err;
  }
  const cleanUp = async () => {
    await deleteNamespace(namespace, config); // after the app: nothing recreates what it removes
    await dropDatabase(databaseUrl);
  };
  let app: App;
  try {
    app = await startApp(config, createLogger(config.logLevel, { test: namespace }, testLogDestination(namespace)));
  } catch (err) {
    await cleanUp().catch(() => undefined); // the start-up error is the one worth reporting
    throw err;
  }
  if (process.env['TEST_EXPECTS_CLUSTER'] === 'true' && !isCluster(app.infra.redis)) {
    await app.stop();
    await cleanUp();
    throw new Error('this test file runs in the cluster project, but its system is not on the Redis Cluster');
  }
  const extra: App[] = [];
  return {
    config,
    app,
    url: `${app.url}/graphql`,
    wsUrl: `ws://127.0.0.1:${app.port}/graphql`,
    async startInstance(more = {}) {
      const cfg = loadConfig({ ...baseEnv, MIGRATE_ON_START: 'false', ...more });
      const instance = await startApp(
        cfg,
        createLogger(cfg.logLevel, { test: namespace, instance: extra.length + 1 }, testLogDestination(namespace)),
      );
      extra.push(instance);
      return instance;
    },
    async stop() {
      await Promise.all(extra.map((a) => a.stop()));
      await app.stop(); // memoized, so this is fine when the test has already stopped the app
      await cleanUp();
    },
  };
}

/** `serverUrl` with the database name of `databaseUrl`. */
function sameDatabase(serverUrl: string, databaseUrl: string): string {
  const url = new URL(serverUrl);
  url.pathname = new URL(databaseUrl).pathname;
  return url.toString();
}

export interface GraphqlResponse<T> {
  status: number;
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown>; path?: (string | number)[] }[];
}

/** Sends one operation over HTTP the way a client does. */
export async function gql<TData, TVars>(
  url: string,
  document: TypedDocumentNode<TData, TVars>,
  variables?: TVars,
  token?: string,
): Promise<GraphqlResponse<TData>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: print(document), variables }),
  });
  return { status: res.status, ...((await res.json()) as Omit<GraphqlResponse<TData>, 'status'>) };
}

/** Like `gql` but fails the test on any error, returning the data. */
export async function gqlOk<TData, TVars>(
  url: string,
  document: TypedDocumentNode<TData, TVars>,
  variables?: TVars,
  token?: string,
): Promise<TData> {
  const res = await gql(url, document, variables, token);
  if (res.errors?.length || !res.data) throw new Error(`GraphQL errors: ${JSON.stringify(res.errors)}`);
  return res.data;
}

/** The first error's `extensions.code`. */
export function errorCode(res: GraphqlResponse<unknown>): unknown {
  return res.errors?.[0]?.extensions?.['code'];
}

/**
 * A lazy graphql-ws client (the socket opens with the first operation and closes after the last),
 * whose operations may be stopped from inside their own `next`.
 *
 * graphql-ws' client (6.4.2) counts the operations that hold its socket open, and releases an
 * operation both when it is stopped and when the server's `complete` arrives, unless it was
 * unlistened in between, which happens only on the next microtask. A query stopped in `next` whose
 * `complete` came in the same read (the usual case) is thus released twice: the count reaches zero
 * while other operations still run, the client closes the socket (1000), and those operations end
 * with `complete` and no result. A stop from inside `next` therefore waits until the read has been
 * dispatched; by then the operation is either complete (the stop does nothing) or unlistened.
 */
export function wsClient(wsUrl: string, token?: string): Client {
  const client = createClient({
    url: wsUrl,
    lazy: true,
    retryAttempts: 0,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
  });
  let inNext = 0;
  return {
    ...client,
    subscribe<Data, Extensions>(payload: SubscribePayload, sink: Sink<FormattedExecutionResult<Data, Extensions>>) {
      const stop = client.subscribe<Data, Extensions>(payload, {
        next: (value) => {
          inNext += 1;
          try {
            sink.next(value);
          } finally {
            inNext -= 1;
          }
        },
        error: (err) => sink.error(err),
        complete: () => sink.complete(),
      });
      return () => (inNext > 0 ? void setImmediate(stop) : stop());
    },
  };
}

/**
 * Subscribes and collects every message; `next(predicate)` waits (with a deadline) for a message
 * that matches, so tests wait on events instead of sleeping.
 */
export function subscribe<TData, TVars>(client: Client, document: TypedDocumentNode<TData, TVars>, variables?: TVars) {
  const messages: { data?: TData | null; errors?: unknown }[] = [];
  const waiters: {
    predicate: (m: { data?: TData | null; errors?: unknown }) => boolean;
    resolve: (v: { data?: TData | null; errors?: unknown }) => void;
  }[] = [];
  let completed = false;
  let failure: unknown;
  const unsubscribe = client.subscribe<TData>(
    { query: print(document), variables: variables as Record<string, unknown> | undefined },
    {
      next: (msg) => {
        const m = msg as { data?: TData | null; errors?: unknown };
        messages.push(m);
        for (const w of [...waiters]) {
          if (w.predicate(m)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(m);
          }
        }
      },
      error: (err) => {
        failure = err;
        completed = true;
      },
      complete: () => {
        completed = true;
      },
    },
  );
  return {
    messages,
    get completed() {
      return completed;
    },
    get failure() {
      return failure;
    },
    next(predicate: (m: { data?: TData | null; errors?: unknown }) => boolean = () => true, timeoutMs = 10_000) {
      const found = messages.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise<{ data?: TData | null; errors?: unknown }>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`no matching subscription message within ${timeoutMs} ms; got ${JSON.stringify(messages)}`),
            ),
          timeoutMs,
        );
        waiters.push({
          predicate,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        });
      });
    },
    unsubscribe,
  };
}

/** Polls `check` until it returns a value that is not undefined, or fails after the deadline. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`${what} not reached within ${timeoutMs} ms${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Runs one query or mutation over a graphql-ws connection, as a websocket client would. */
export function wsRequest<TData, TVars>(
  client: Client,
  document: TypedDocumentNode<TData, TVars>,
  variables?: TVars,
): Promise<GraphqlResponse<TData>> {
  return new Promise((resolve, reject) => {
    let result: GraphqlResponse<TData> | undefined;
    client.subscribe<TData>(
      { query: print(document), variables: variables as Record<string, unknown> | undefined },
      {
        next: (msg) => (result = { status: 200, ...(msg as Omit<GraphqlResponse<TData>, 'status'>) }),
        error: (err) => reject(err instanceof Error ? err : new Error(JSON.stringify(err))),
        complete: () => (result ? resolve(result) : reject(new Error('completed without a result'))),
      },
    );
  });
}
