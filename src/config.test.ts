import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

/** The error loadConfig throws for `env`, so a test can look at every problem it names. */
function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

/** Stripe settings that satisfy the payment checks, for tests about something else in production. */
const stripe = { PAYMENT_PROVIDER: 'stripe', STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_WEBHOOK_SECRET: 'whsec_x' };

describe('loadConfig', () => {
  it('uses the defaults of the configuration table in the README when nothing is set', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      env: 'development',
      production: false,
      port: 4000,
      role: 'all',
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/ticketing',
      databaseRead: { url: undefined, maxLagMs: 10_000 },
      redisUrl: 'redis://127.0.0.1:6379',
      natsUrl: 'nats://127.0.0.1:4222',
      migrateOnStart: true,
      graphiql: true,
      booking: { holdSeconds: 300, waitMs: 2000 },
      payments: { provider: 'simulated' },
      push: { provider: 'log' },
    });
    expect(config.auth.adminEmails.size).toBe(0);
    expect(config.payments.stripeSecretKey).toBeUndefined();
    // The simulated provider signs its own webhooks, so it gets a development secret.
    expect(config.payments.webhookSecret).toBeTruthy();
  });

  it('caps graphql-ws sockets and operations by default, and bounds the token lifetime', () => {
    expect(loadConfig({}).webSocket).toEqual({
      maxSocketsPerAddress: 100,
      maxSocketsPerUser: 10,
      maxOperationsPerSocket: 50,
    });
    expect(loadConfig({ WS_MAX_SOCKETS_PER_USER: '3' }).webSocket.maxSocketsPerUser).toBe(3);
    expect(problemsOf({ WS_MAX_SOCKETS_PER_ADDRESS: '0' })).toEqual(['WS_MAX_SOCKETS_PER_ADDRESS: must be at least 1']);
    expect(problemsOf({ JWT_TTL_SECONDS: String(300 * 365 * 86_400) })).toEqual([
      'JWT_TTL_SECONDS: must be at most 604800',
    ]);
  });

  it("bounds V8's heap growth at 20% past the last full GC by default; 0 leaves V8's own factor", () => {
    expect(loadConfig({}).heapGrowingPercent).toBe(20);
    expect(loadConfig({ HEAP_GROWING_PERCENT: '0' }).heapGrowingPercent).toBe(0);
    expect(problemsOf({ HEAP_GROWING_PERCENT: '401' }).join()).toMatch(/HEAP_GROWING_PERCENT/);
    expect(problemsOf({ HEAP_GROWING_PERCENT: '-1' }).join()).toMatch(/HEAP_GROWING_PERCENT/);
  });

  it('signs tokens with a random per-start key in development when JWT_SECRET is unset', () => {
    const a = loadConfig({});
    const b = loadConfig({});
    expect(a.auth.jwtSecretIsEphemeral).toBe(true);
    expect(a.auth.jwtSecret.length).toBeGreaterThanOrEqual(32);
    expect(a.auth.jwtSecret).not.toBe(b.auth.jwtSecret);
  });

  it('reads ROLE as a list of services, worker meaning every one but the gateway', () => {
    expect([...loadConfig({ ROLE: 'worker' }).services].sort()).toEqual([
      'booking',
      'expiry',
      'notifications',
      'payments',
      'sweeps',
    ]);
    expect([...loadConfig({ ROLE: 'gateway, booking' }).services].sort()).toEqual(['booking', 'gateway']);
    expect(loadConfig({}).services.size).toBe(6);
    expect(problemsOf({ ROLE: 'gateway,boss' }).some((p) => p.startsWith('ROLE:'))).toBe(true);
  });

  it('reads REDIS_URL as one server or a cluster, and NATS_URL as one server or several', () => {
    expect(loadConfig({ REDIS_URL: 'redis+cluster://127.0.0.1:7000,127.0.0.1:7001' }).redisUrl).toContain('cluster');
    expect(problemsOf({ REDIS_URL: 'redis+cluster://127.0.0.1' }).some((p) => p.startsWith('REDIS_URL:'))).toBe(true);
    expect(loadConfig({ NATS_URL: 'nats://a:4222,nats://b:4222', JETSTREAM_REPLICAS: '3' })).toMatchObject({
      natsUrl: 'nats://a:4222,nats://b:4222',
      jetstreamReplicas: 3,
    });
    expect(problemsOf({ NATS_URL: 'nats://a:4222,http://b' }).some((p) => p.startsWith('NATS_URL:'))).toBe(true);
  });

  it('treats an empty value as unset', () => {
    expect(loadConfig({ PORT: '', ROLE: '' })).toMatchObject({ port: 4000, role: 'all' });
  });

  it('reports every bad variable in one ConfigError', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      ROLE: 'boss',
      DATABASE_URL: 'mysql://localhost/db',
      HOLD_SECONDS: '0',
      MIGRATE_ON_START: 'maybe',
    });
    for (const name of ['PORT', 'ROLE', 'DATABASE_URL', 'HOLD_SECONDS', 'MIGRATE_ON_START']) {
      expect(
        problems.some((p) => p.startsWith(`${name}:`)),
        name,
      ).toBe(true);
    }
    expect(problems).toHaveLength(5);
  });

  it('takes a Stripe publishable key for the web app, and refuses a secret key there', () => {
    expect(loadConfig({ STRIPE_PUBLISHABLE_KEY: 'pk_test_abc123' }).payments.stripePublishableKey).toBe(
      'pk_test_abc123',
    );
    expect(loadConfig({}).payments.stripePublishableKey).toBeUndefined();
    expect(() => loadConfig({ STRIPE_PUBLISHABLE_KEY: 'sk_test_abc123' })).toThrow(/STRIPE_PUBLISHABLE_KEY/);
  });

  it('names the bad variables in the error message too', () => {
    expect(() => loadConfig({ PORT: '70000', REDIS_URL: 'http://x' })).toThrow(/PORT[\s\S]*REDIS_URL/);
  });

  it('requires JWT_SECRET in production, and turns GraphiQL off there unless GRAPHIQL=true', () => {
    const secret = 's'.repeat(32);
    expect(problemsOf({ NODE_ENV: 'production', ...stripe })).toEqual(['JWT_SECRET: required in production']);
    const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret, ...stripe });
    expect(config).toMatchObject({ production: true, graphiql: false });
    expect(config.auth).toMatchObject({ jwtSecret: secret, jwtSecretIsEphemeral: false });
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret, GRAPHIQL: 'true', ...stripe }).graphiql).toBe(true);
  });

  it('refuses to start production with the simulated provider unless ALLOW_SIMULATED_PAYMENTS=true', () => {
    const secret = 's'.repeat(32);
    // Nothing but NODE_ENV: the simulated provider is the default, and it pays any order.
    const problems = problemsOf({ NODE_ENV: 'production', JWT_SECRET: secret });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^PAYMENT_PROVIDER:.*ALLOW_SIMULATED_PAYMENTS=true/);
    expect(problemsOf({ NODE_ENV: 'production', JWT_SECRET: secret, ALLOW_SIMULATED_PAYMENTS: 'false' })).toEqual(
      problems,
    );
    const allowed = loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret, ALLOW_SIMULATED_PAYMENTS: 'true' });
    expect(allowed.payments).toMatchObject({ provider: 'simulated', simulatedInProduction: true });
    // The opt-in is about production only.
    expect(loadConfig({}).payments.simulatedInProduction).toBe(false);
  });

  it('never verifies webhooks with the built-in development secret in production', () => {
    const base = { NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32), ALLOW_SIMULATED_PAYMENTS: 'true' };
    const development = loadConfig({}).payments.webhookSecret;
    const a = loadConfig(base).payments.webhookSecret;
    const b = loadConfig(base).payments.webhookSecret;
    // A random secret per process: the simulated provider posts only to its own process's webhook.
    expect(a).not.toBe(development);
    expect(a).not.toBe(b);
    expect(a.length).toBeGreaterThanOrEqual(32);
    expect(loadConfig({ ...base, STRIPE_WEBHOOK_SECRET: 'whsec_x' }).payments.webhookSecret).toBe('whsec_x');
    // Outside production the simulated provider keeps its fixed development secret.
    expect(loadConfig({}).payments.webhookSecret).toBe(development);
  });

  it('turns introspection on by its own switch: on unless production, whatever GRAPHIQL says', () => {
    const prod = { NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32), ...stripe };
    expect(loadConfig({}).introspection).toBe(true);
    expect(loadConfig({ GRAPHIQL: 'false' }).introspection).toBe(true);
    expect(loadConfig({ INTROSPECTION: 'false', GRAPHIQL: 'true' })).toMatchObject({
      introspection: false,
      graphiql: true,
    });
    expect(loadConfig(prod).introspection).toBe(false);
    expect(loadConfig({ ...prod, GRAPHIQL: 'true' }).introspection).toBe(false);
    expect(loadConfig({ ...prod, INTROSPECTION: 'true' }).introspection).toBe(true);
  });

  it('reads OPS_PORT as the operator port, unset by default', () => {
    expect(loadConfig({}).opsPort).toBeUndefined();
    expect(loadConfig({ OPS_PORT: '9100' }).opsPort).toBe(9100);
    expect(problemsOf({ OPS_PORT: 'nine' })).toEqual(['OPS_PORT: must be a whole number']);
    expect(problemsOf({ PORT: '9100', OPS_PORT: '9100' })).toEqual(['OPS_PORT: must differ from PORT']);
    expect(loadConfig({ PORT: '0', OPS_PORT: '0' }).opsPort).toBe(0);
  });

  it('refuses a JWT_SECRET shorter than 32 characters', () => {
    expect(problemsOf({ JWT_SECRET: 'short' })).toEqual(['JWT_SECRET: must be at least 32 characters']);
  });

  it('requires both Stripe variables with PAYMENT_PROVIDER=stripe, naming each one missing', () => {
    const both = problemsOf({ PAYMENT_PROVIDER: 'stripe' });
    expect(both).toHaveLength(2);
    expect(both[0]).toMatch(/^STRIPE_SECRET_KEY:/);
    expect(both[1]).toMatch(/^STRIPE_WEBHOOK_SECRET:/);
    expect(problemsOf({ PAYMENT_PROVIDER: 'stripe', STRIPE_SECRET_KEY: 'sk_test_x' })).toEqual([
      'STRIPE_WEBHOOK_SECRET: required when PAYMENT_PROVIDER=stripe',
    ]);
    const ok = loadConfig({
      PAYMENT_PROVIDER: 'stripe',
      STRIPE_SECRET_KEY: 'sk_test_x',
      STRIPE_WEBHOOK_SECRET: 'whsec_x',
    });
    expect(ok.payments).toMatchObject({ provider: 'stripe', stripeSecretKey: 'sk_test_x', webhookSecret: 'whsec_x' });
  });

  it('throttles sign-ins and sign-ups by default, and refuses a longest back-off shorter than the first', () => {
    expect(loadConfig({}).auth.throttle).toEqual({
      signInFailuresPerAccount: 5,
      signInFailuresPerAddress: 20,
      signInBackoffSeconds: 1,
      signInBackoffMaxSeconds: 900,
      signUpsPerAddressPerHour: 10,
    });
    expect(problemsOf({ SIGNIN_BACKOFF_SECONDS: '60', SIGNIN_BACKOFF_MAX_SECONDS: '30' })).toEqual([
      'SIGNIN_BACKOFF_MAX_SECONDS: must be at least SIGNIN_BACKOFF_SECONDS',
    ]);
  });

  it('requires credentials with PUSH_PROVIDER=fcm', () => {
    expect(problemsOf({ PUSH_PROVIDER: 'fcm' })).toEqual([
      'GOOGLE_APPLICATION_CREDENTIALS: required when PUSH_PROVIDER=fcm',
    ]);
  });

  it('reads ADMIN_EMAILS as a trimmed, lower-cased list and rejects an entry that is not an e-mail', () => {
    const config = loadConfig({ ADMIN_EMAILS: ' Boss@Example.com , ops@example.com,' });
    expect([...config.auth.adminEmails]).toEqual(['boss@example.com', 'ops@example.com']);
    expect(problemsOf({ ADMIN_EMAILS: 'ok@example.com, nope' })).toEqual([
      'ADMIN_EMAILS: "nope" is not an e-mail address',
    ]);
  });
});
