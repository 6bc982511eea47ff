import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignInDocument, SignUpDocument } from './generated/graphql.js';
import { startTestSystem, wsClient, type GraphqlResponse, type TestSystem } from './support/system.js';
import { TcpProxy } from './support/tcp-proxy.js';

/**
 * Sign-in and sign-up throttling (src/services/auth-throttle.ts): failed sign-ins back off per
 * account and per client address, sign-ups are limited per address, and a document may hold only
 * one signIn or signUp, so one request cannot run many password checks.
 */
const LIMITS = {
  SIGNIN_FAILURES_PER_ACCOUNT: '3',
  SIGNIN_FAILURES_PER_ADDRESS: '5',
  SIGNIN_BACKOFF_SECONDS: '60',
  SIGNUPS_PER_ADDRESS_PER_HOUR: '3',
};
const PASSWORD = 'the right password';

/** Clients reach this one directly: X-Forwarded-For is whatever a client wants it to be. */
let direct: TestSystem;
/** Behind a trusted proxy (the tests play it): X-Forwarded-For names the client. */
let proxied: TestSystem;

beforeAll(async () => {
  [direct, proxied] = await Promise.all([
    startTestSystem(LIMITS),
    startTestSystem({ ...LIMITS, TRUSTED_PROXIES: '127.0.0.1' }),
  ]);
});
afterAll(async () => {
  await Promise.all([direct?.stop(), proxied?.stop()]);
});

let counter = 0;
/** A client address of its own for each use, so tests do not share address counters. */
function newAddress(): string {
  counter += 1;
  return `198.51.100.${counter}`;
}
function newEmail(): string {
  counter += 1;
  return `user${counter}@example.test`;
}

type Outcome = GraphqlResponse<Record<string, unknown>>;

async function post(sys: TestSystem, body: unknown, from?: string): Promise<Outcome> {
  const res = await fetch(sys.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(from ? { 'x-forwarded-for': from } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, ...((await res.json()) as Omit<Outcome, 'status'>) };
}

function signIn(sys: TestSystem, email: string, password: string, from?: string): Promise<Outcome> {
  return post(sys, { query: print(SignInDocument), variables: { email, password } }, from);
}

function signUp(sys: TestSystem, email: string, from?: string): Promise<Outcome> {
  return post(sys, { query: print(SignUpDocument), variables: { email, password: PASSWORD, name: 'N' } }, from);
}

async function newAccount(sys: TestSystem): Promise<string> {
  const email = newEmail();
  const res = await signUp(sys, email, newAddress());
  expect(res.errors).toBeUndefined();
  return email;
}

function code(res: Outcome): unknown {
  return res.errors?.[0]?.extensions?.['code'];
}

function expectRateLimited(res: Outcome, maxSeconds: number): void {
  expect(res.data ?? undefined).toBeUndefined();
  expect(code(res)).toBe('RATE_LIMITED');
  const retryAfter = res.errors?.[0]?.extensions?.['retryAfterSeconds'];
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(maxSeconds);
}

describe('failed sign-ins to one account', () => {
  it('back off after the free failures, refusing even the right password, from any address', async () => {
    const email = await newAccount(proxied);
    const from = newAddress();
    for (let i = 0; i < 3; i += 1)
      expect(code(await signIn(proxied, email, 'wrong password', from))).toBe('UNAUTHENTICATED');
    expectRateLimited(await signIn(proxied, email, 'wrong password', from), 60);
    // No oracle: during the back-off the right password is refused the same way.
    expectRateLimited(await signIn(proxied, email, PASSWORD, from), 60);
    expectRateLimited(await signIn(proxied, email, PASSWORD, newAddress()), 60);
  });

  it('are counted before the password is checked, so concurrent guesses cannot all slip through', async () => {
    const email = await newAccount(proxied);
    const from = newAddress();
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) => signIn(proxied, email, `wrong password ${i}`, from)),
    );
    const codes = outcomes.map(code);
    expect(codes.filter((c) => c === 'UNAUTHENTICATED')).toHaveLength(3);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(7);
  });

  it('are forgotten after a successful sign-in', async () => {
    const email = await newAccount(proxied);
    const from = newAddress();
    for (let i = 0; i < 2; i += 1)
      expect(code(await signIn(proxied, email, 'wrong password', from))).toBe('UNAUTHENTICATED');
    expect((await signIn(proxied, email, PASSWORD, from)).errors).toBeUndefined();
    for (let i = 0; i < 3; i += 1)
      expect(code(await signIn(proxied, email, 'wrong password', from))).toBe('UNAUTHENTICATED');
    expectRateLimited(await signIn(proxied, email, 'wrong password', from), 60);
  });
});

describe('failed sign-ins from one client address', () => {
  it('back off across accounts, and leave another address (named by the trusted proxy) alone', async () => {
    const email = await newAccount(proxied);
    const from = newAddress();
    for (let i = 0; i < 5; i += 1)
      expect(code(await signIn(proxied, newEmail(), 'wrong password', from))).toBe('UNAUTHENTICATED');
    expectRateLimited(await signIn(proxied, email, PASSWORD, from), 60);
    expectRateLimited(await signIn(proxied, newEmail(), 'wrong password', from), 60);
    const elsewhere = await signIn(proxied, email, PASSWORD, newAddress());
    expect(elsewhere.errors).toBeUndefined();
  });

  it('are counted by the socket peer when X-Forwarded-For comes without a trusted proxy', async () => {
    for (let i = 0; i < 5; i += 1) {
      expect(code(await signIn(direct, newEmail(), 'wrong password', newAddress()))).toBe('UNAUTHENTICATED');
    }
    expectRateLimited(await signIn(direct, newEmail(), 'wrong password', newAddress()), 60);
  });
});

describe('sign-ups', () => {
  it('are limited per client address, and another address may still sign up', async () => {
    const from = newAddress();
    for (let i = 0; i < 3; i += 1) expect((await signUp(proxied, newEmail(), from)).errors).toBeUndefined();
    const refused = await signUp(proxied, newEmail(), from);
    expectRateLimited(refused, 3600);
    expect((await signUp(proxied, newEmail(), newAddress())).errors).toBeUndefined();
  });
});

/** Fifteen aliased signIn for one account in one document. */
function aliasedSignIns(email: string): string {
  const fields = Array.from(
    { length: 15 },
    (_, i) => `s${i}: signIn(email: "${email}", password: "guess number ${i}") { token }`,
  ).join(' ');
  return `mutation Guesses { ${fields} }`;
}

async function overWs(sys: TestSystem, query: string): Promise<Outcome> {
  const client = wsClient(sys.wsUrl);
  try {
    return await new Promise<Outcome>((resolve, reject) => {
      client.subscribe(
        { query },
        {
          next: (msg) => resolve({ status: 0, ...(msg as Omit<Outcome, 'status'>) }),
          error: (err) =>
            Array.isArray(err) ? resolve({ status: 0, errors: err as Outcome['errors'] }) : reject(err as Error),
          complete: () => undefined,
        },
      );
    });
  } finally {
    await client.dispose();
  }
}

describe.each([
  ['Apollo', (sys: TestSystem, query: string) => post(sys, { query, extensions: {} }, newAddress())],
  ['the compiled fast path', (sys: TestSystem, query: string) => post(sys, { query }, newAddress())],
  ['graphql-ws', overWs],
] as const)('one document on %s', (_name, send) => {
  it('holding fifteen aliased signIn is refused without checking a single password', async () => {
    const email = await newAccount(proxied);
    const refused = await send(proxied, aliasedSignIns(email));
    expect(refused.data ?? undefined).toBeUndefined();
    expect(code(refused)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(refused.errors?.[0]?.message).toMatch(/at most one signIn or signUp/);
    // The account's free failures are all still there: no guess was counted, none was checked.
    const from = newAddress();
    for (let i = 0; i < 3; i += 1)
      expect(code(await signIn(proxied, email, 'wrong password', from))).toBe('UNAUTHENTICATED');
    expectRateLimited(await signIn(proxied, email, 'wrong password', from), 60);
  });

  it('holding a signUp and a signIn is refused', async () => {
    const email = newEmail();
    const refused = await send(
      proxied,
      `mutation { signUp(email: "${email}", password: "${PASSWORD}", name: "N") { token } signIn(email: "${email}", password: "${PASSWORD}") { token } }`,
    );
    expect(code(refused)).toBe('GRAPHQL_VALIDATION_FAILED');
    // Nothing ran: the e-mail is still free.
    expect((await signUp(proxied, email, newAddress())).errors).toBeUndefined();
  });
});

describe('with Redis down', () => {
  const proxy = TcpProxy.forUrl(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
  let sys: TestSystem;

  beforeAll(async () => {
    await proxy.start();
    sys = await startTestSystem({
      ...LIMITS,
      REDIS_URL: proxy.rewrite(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379'),
    });
  });
  afterAll(async () => {
    proxy.up();
    await sys?.stop();
    await proxy.stop();
  });

  it('sign-in and sign-up answer UNAVAILABLE, never an internal error', async () => {
    const email = await newAccount(sys);
    proxy.down();
    try {
      const signInRes = await signIn(sys, email, PASSWORD);
      const signUpRes = await signUp(sys, newEmail());
      expect(code(signInRes)).toBe('UNAVAILABLE');
      expect(code(signUpRes)).toBe('UNAVAILABLE');
    } finally {
      proxy.up();
    }
  });
});
