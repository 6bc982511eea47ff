import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { isRedisUrl } from './infra/redis-url.js';

/**
 * The one place that reads the environment. It is parsed once against a schema; every bad
 * variable is reported in a single error, and the rest of the code receives a typed object.
 */

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int({ error: 'must be a whole number' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` });

const url = (...protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { error: `must be a ${protocols.map((p) => p.replace(':', '://')).join(' or ')} URL` },
  );

/** The original design's services, each runnable as its own process (see ROLE). */
export const SERVICES = ['gateway', 'booking', 'payments', 'notifications', 'expiry', 'sweeps'] as const;
export type Service = (typeof SERVICES)[number];
const ROLE_NAMES = ['all', 'worker', ...SERVICES] as const;
type RoleName = (typeof ROLE_NAMES)[number];

/** The services a ROLE names: `all` every one, `worker` every one but the gateway. */
export function servicesOf(role: string): ReadonlySet<Service> {
  const out = new Set<Service>();
  for (const name of role.split(',').map((r) => r.trim() as RoleName)) {
    if (name === 'all') SERVICES.forEach((s) => out.add(s));
    else if (name === 'worker') SERVICES.filter((s) => s !== 'gateway').forEach((s) => out.add(s));
    else out.add(name);
  }
  return out;
}

const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int(0, 65535).default(4000),
  /** When set, /metrics and the detailed readiness report are served only on this port (0: any free port). */
  OPS_PORT: int(0, 65535).optional(),
  /**
   * The services this process runs, comma-separated: gateway, booking, payments, notifications,
   * expiry, sweeps; `all` is every one, `worker` every one but the gateway.
   */
  ROLE: z
    .string()
    .transform((v) => v.trim())
    .refine((v) => v.split(',').every((r) => ROLE_NAMES.includes(r.trim() as RoleName)), {
      error: `must be one or more of ${'all, worker, gateway, booking, payments, notifications, expiry, sweeps'} separated by commas`,
    })
    .default('all'),
  DATABASE_URL: url('postgres:', 'postgresql:').default('postgres://postgres@127.0.0.1:5432/ticketing'),
  /**
   * A streaming replica of DATABASE_URL's database, for reads where a little staleness is harmless
   * (browsing, search, order history); unset: every read goes to the primary.
   */
  DATABASE_READ_URL: url('postgres:', 'postgresql:').optional(),
  /** The replica is not used while it has not replayed what the primary had this long ago. */
  DATABASE_READ_MAX_LAG_MS: int(1000, 600_000).default(10_000),
  /** One server (`redis://`, `rediss://`) or a Redis Cluster (`redis+cluster://host:port,host:port…`); see infra/redis-url.ts. */
  REDIS_URL: z
    .string()
    .refine(isRedisUrl, { error: 'must be a redis:// or rediss:// URL, or redis+cluster://host:port,host:port…' })
    .default('redis://127.0.0.1:6379'),
  /** One NATS server or several of a cluster, comma-separated (`nats://a:4222,nats://b:4222`). */
  NATS_URL: z
    .string()
    .refine((v) => v.split(',').every((one) => url('nats:', 'tls:').safeParse(one.trim()).success), {
      error: 'must be a nats:// or tls:// URL, or several separated by commas',
    })
    .default('nats://127.0.0.1:4222'),
  /** Copies of every JetStream stream: 1 on one server, 3 on a 3-node cluster (survives losing one node). */
  JETSTREAM_REPLICAS: int(1, 5).default(1),
  /** Prefix of every Redis key, NATS subject and JetStream stream: lets tests and tenants share servers. */
  NAMESPACE: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,31}$/, { error: 'must be lower-case letters, digits or _ (max 32)' })
    .default('tix'),
  JWT_SECRET: z.string().min(32, { error: 'must be at least 32 characters' }).optional(),
  /** Lifetime of an access token, and the longest one accepted (`exp − iat`); at most 7 days. */
  JWT_TTL_SECONDS: int(60, 7 * 86_400).default(3600),
  ADMIN_EMAILS: z.string().default(''),
  HOLD_SECONDS: int(1).default(300),
  BOOKING_WAIT_MS: int(0, 60_000).default(2000),
  BOOKING_RATE_PER_SECOND: int(1).default(5),
  /** A QUEUED attempt still undecided after this long is queued again by the sweep. */
  BOOKING_DECISION_DEADLINE_MS: int(100).default(30_000),
  /** Most attempts a booking worker decides in one batch (one Redis call, one Postgres transaction). */
  BOOKING_BATCH_SIZE: int(1, 5000).default(500),
  PAYMENT_PROVIDER: z.enum(['simulated', 'stripe']).default('simulated'),
  /** The simulated provider pays any order, so production runs it only with this explicit opt-in. */
  ALLOW_SIMULATED_PAYMENTS: bool.default(false),
  STRIPE_SECRET_KEY: z.string().min(1).optional(),
  STRIPE_WEBHOOK_SECRET: z.string().min(1).optional(),
  /** Stripe's publishable key (`pk_…`), given to the web app for the Payment Element; public by design. */
  STRIPE_PUBLISHABLE_KEY: z
    .string()
    .regex(/^pk_(test|live)_[A-Za-z0-9]+$/, { error: 'must be a Stripe publishable key (pk_test_… or pk_live_…)' })
    .optional(),
  /** Where the stripe driver sends API calls; tests point it at a local stand-in. */
  STRIPE_API_URL: url('http:', 'https:').optional(),
  PUSH_PROVIDER: z.enum(['log', 'fcm']).default('log'),
  GOOGLE_APPLICATION_CREDENTIALS: z.string().min(1).optional(),
  MIGRATE_ON_START: bool.default(true),
  /** Longest wait for a row lock; a batch that cannot lock the stock row in time is retried. */
  PG_LOCK_TIMEOUT_MS: int(1).default(2000),
  /** A session idle inside a transaction this long (a frozen process) is ended by Postgres, releasing its locks. */
  PG_IDLE_IN_TRANSACTION_TIMEOUT_MS: int(1).default(3000),
  /** Longest single statement. */
  PG_STATEMENT_TIMEOUT_MS: int(1).default(15_000),
  GRAPHIQL: bool.optional(),
  /** Schema introspection on HTTP and graphql-ws; default: on unless production (independent of GRAPHIQL). */
  INTROSPECTION: bool.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * How far past what the last full GC kept V8 lets the heap grow before the next one, %. V8's
   * own factor (0 here) goes up to 4×: after a burst the gateway held 900 MB of which 170 MB alive.
   */
  HEAP_GROWING_PERCENT: int(0, 400).default(20),
  /** Comma-separated addresses of reverse proxies whose `X-Forwarded-For` names the client; empty: the socket's peer is the client. */
  TRUSTED_PROXIES: z.string().default(''),
  /** Sign-in attempts to one account (known or not) before each next one backs off. */
  SIGNIN_FAILURES_PER_ACCOUNT: int(1).default(5),
  /** Sign-in attempts from one client address, to any accounts, before each next one backs off. */
  SIGNIN_FAILURES_PER_ADDRESS: int(1).default(20),
  /** The first sign-in back-off; it doubles with each further failed attempt. */
  SIGNIN_BACKOFF_SECONDS: int(1).default(1),
  /** The longest sign-in back-off; failures are forgotten this long after the last back-off ends. */
  SIGNIN_BACKOFF_MAX_SECONDS: int(1).default(900),
  /** Sign-ups from one client address per hour. */
  SIGNUPS_PER_ADDRESS_PER_HOUR: int(1).default(10),
  /** Open graphql-ws sockets allowed from one client address (see TRUSTED_PROXIES); the next is closed with 4429. */
  WS_MAX_SOCKETS_PER_ADDRESS: int(1).default(100),
  /** Open graphql-ws sockets allowed for one signed-in user; the next is closed with 4429. */
  WS_MAX_SOCKETS_PER_USER: int(1).default(10),
  /** Operations (subscriptions, queries, mutations) running at once on one graphql-ws socket; the next is RATE_LIMITED. */
  WS_MAX_OPERATIONS_PER_SOCKET: int(1).default(50),
  /** How often the safety-net sweeps (expired holds, undecided bookings, unapplied webhooks) run. */
  SWEEP_INTERVAL_MS: int(100).default(5000),
  /**
   * Deliveries of one queue message before its consumer gives up and moves it to the dead-letter
   * stream. Failed deliveries are retried after 1 s, doubling up to 30 s: 10 covers about 2.5 minutes.
   */
  QUEUE_MAX_DELIVER: int(2, 1000).default(10),
  /**
   * How long a delivered queue message may go without an ack or a heartbeat before JetStream hands
   * it to another worker. A live worker heartbeats every message it holds (a fifth of this), so this
   * bounds only how long a crashed or frozen worker's messages wait.
   */
  QUEUE_ACK_WAIT_MS: int(1000, 600_000).default(5000),
  /** How often the waiting-room admission runner advances every room's serving counter and publishes it. */
  WAITING_ROOM_TICK_MS: int(50, 10_000).default(250),
  /** A room without admitPerSecond starts admitting at this rate, then follows the booking pipeline. */
  WAITING_ROOM_START_RATE: int(1).default(200),
  /** The derived admission rate stays within these bounds. */
  WAITING_ROOM_MIN_RATE: int(1).default(100),
  WAITING_ROOM_MAX_RATE: int(1).default(20_000),
  /** The derived rate grows while admitted buyers' decisions (p99) come within this. */
  WAITING_ROOM_TARGET_DECISION_MS: int(1).default(250),
  /** Fixes the pre-queue shuffle (tests only); unset, every shuffle draws from crypto randomness. */
  WAITING_ROOM_SHUFFLE_SEED: int(0, 2 ** 32 - 1).optional(),
});

type Env = z.infer<typeof EnvSchema>;

/** Every variable the configuration reads (`.env.example` lists exactly these; a test checks it). */
export const ENV_VARIABLES = Object.keys(EnvSchema.shape) as (keyof Env)[];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * The simulated provider signs its own webhooks; this value is public, so it is used only outside
 * production. In production the simulated provider gets a random secret per process: it posts
 * only to its own process's webhook route, so no other process needs to know it.
 */
const SIMULATED_WEBHOOK_SECRET = 'whsec_simulated_development_only';

export function loadConfig(source: Record<string, string | undefined> = process.env) {
  // Empty strings count as "not set", so `FOO=` in a .env file falls back to the default.
  const env = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(env);
  const problems: string[] = parsed.success
    ? []
    : parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  if (parsed.success) problems.push(...crossChecks(parsed.data));
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  return toConfig(parsed.data);
}

function crossChecks(env: Env): string[] {
  const problems: string[] = [];
  if (env.NODE_ENV === 'production' && !env.JWT_SECRET) problems.push('JWT_SECRET: required in production');
  if (env.NODE_ENV === 'production' && env.PAYMENT_PROVIDER === 'simulated' && !env.ALLOW_SIMULATED_PAYMENTS) {
    problems.push(
      'PAYMENT_PROVIDER: the simulated provider (the default) pays any order and is refused in production; ' +
        'set PAYMENT_PROVIDER=stripe, or ALLOW_SIMULATED_PAYMENTS=true to run it anyway',
    );
  }
  if (env.PAYMENT_PROVIDER === 'stripe') {
    if (!env.STRIPE_SECRET_KEY) problems.push('STRIPE_SECRET_KEY: required when PAYMENT_PROVIDER=stripe');
    if (!env.STRIPE_WEBHOOK_SECRET) problems.push('STRIPE_WEBHOOK_SECRET: required when PAYMENT_PROVIDER=stripe');
  }
  if (env.OPS_PORT !== undefined && env.OPS_PORT !== 0 && env.OPS_PORT === env.PORT) {
    problems.push('OPS_PORT: must differ from PORT');
  }
  if (env.PUSH_PROVIDER === 'fcm' && !env.GOOGLE_APPLICATION_CREDENTIALS) {
    problems.push('GOOGLE_APPLICATION_CREDENTIALS: required when PUSH_PROVIDER=fcm');
  }
  if (env.WAITING_ROOM_MAX_RATE < env.WAITING_ROOM_MIN_RATE) {
    problems.push('WAITING_ROOM_MAX_RATE: must be at least WAITING_ROOM_MIN_RATE');
  }
  if (env.SIGNIN_BACKOFF_MAX_SECONDS < env.SIGNIN_BACKOFF_SECONDS) {
    problems.push('SIGNIN_BACKOFF_MAX_SECONDS: must be at least SIGNIN_BACKOFF_SECONDS');
  }
  for (const email of splitList(env.ADMIN_EMAILS)) {
    if (!z.email().safeParse(email).success) problems.push(`ADMIN_EMAILS: "${email}" is not an e-mail address`);
  }
  return problems;
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

function toConfig(env: Env) {
  const production = env.NODE_ENV === 'production';
  return {
    env: env.NODE_ENV,
    production,
    port: env.PORT,
    opsPort: env.OPS_PORT,
    role: env.ROLE,
    services: servicesOf(env.ROLE),
    namespace: env.NAMESPACE,
    logLevel: env.LOG_LEVEL,
    heapGrowingPercent: env.HEAP_GROWING_PERCENT,
    databaseUrl: env.DATABASE_URL,
    databaseRead: { url: env.DATABASE_READ_URL, maxLagMs: env.DATABASE_READ_MAX_LAG_MS },
    redisUrl: env.REDIS_URL,
    natsUrl: env.NATS_URL,
    jetstreamReplicas: env.JETSTREAM_REPLICAS,
    migrateOnStart: env.MIGRATE_ON_START,
    databaseTimeouts: {
      lockMs: env.PG_LOCK_TIMEOUT_MS,
      idleInTransactionMs: env.PG_IDLE_IN_TRANSACTION_TIMEOUT_MS,
      statementMs: env.PG_STATEMENT_TIMEOUT_MS,
    },
    graphiql: env.GRAPHIQL ?? !production,
    introspection: env.INTROSPECTION ?? !production,
    trustedProxies: new Set(splitList(env.TRUSTED_PROXIES)),
    webSocket: {
      maxSocketsPerAddress: env.WS_MAX_SOCKETS_PER_ADDRESS,
      maxSocketsPerUser: env.WS_MAX_SOCKETS_PER_USER,
      maxOperationsPerSocket: env.WS_MAX_OPERATIONS_PER_SOCKET,
    },
    auth: {
      /** Without JWT_SECRET (development only) tokens are signed with a random key and die with the process. */
      jwtSecret: env.JWT_SECRET ?? randomBytes(32).toString('hex'),
      jwtSecretIsEphemeral: env.JWT_SECRET === undefined,
      tokenTtlSeconds: env.JWT_TTL_SECONDS,
      adminEmails: new Set(splitList(env.ADMIN_EMAILS)),
      throttle: {
        signInFailuresPerAccount: env.SIGNIN_FAILURES_PER_ACCOUNT,
        signInFailuresPerAddress: env.SIGNIN_FAILURES_PER_ADDRESS,
        signInBackoffSeconds: env.SIGNIN_BACKOFF_SECONDS,
        signInBackoffMaxSeconds: env.SIGNIN_BACKOFF_MAX_SECONDS,
        signUpsPerAddressPerHour: env.SIGNUPS_PER_ADDRESS_PER_HOUR,
      },
    },
    booking: {
      holdSeconds: env.HOLD_SECONDS,
      waitMs: env.BOOKING_WAIT_MS,
      ratePerSecond: env.BOOKING_RATE_PER_SECOND,
      decisionDeadlineMs: env.BOOKING_DECISION_DEADLINE_MS,
      batchSize: env.BOOKING_BATCH_SIZE,
    },
    payments: {
      provider: env.PAYMENT_PROVIDER,
      stripeSecretKey: env.STRIPE_SECRET_KEY,
      stripeApiUrl: env.STRIPE_API_URL,
      stripePublishableKey: env.STRIPE_PUBLISHABLE_KEY,
      webhookSecret:
        env.STRIPE_WEBHOOK_SECRET ?? (production ? randomBytes(32).toString('hex') : SIMULATED_WEBHOOK_SECRET),
      /** Production with ALLOW_SIMULATED_PAYMENTS=true: logged as a warning at every start. */
      simulatedInProduction: production && env.PAYMENT_PROVIDER === 'simulated',
    },
    push: {
      provider: env.PUSH_PROVIDER,
      googleCredentials: env.GOOGLE_APPLICATION_CREDENTIALS,
    },
    sweepIntervalMs: env.SWEEP_INTERVAL_MS,
    waitingRoom: {
      tickMs: env.WAITING_ROOM_TICK_MS,
      shuffleSeed: env.WAITING_ROOM_SHUFFLE_SEED,
      rates: {
        start: env.WAITING_ROOM_START_RATE,
        min: env.WAITING_ROOM_MIN_RATE,
        max: env.WAITING_ROOM_MAX_RATE,
        targetDecisionMs: env.WAITING_ROOM_TARGET_DECISION_MS,
      },
    },
    queue: {
      maxDeliver: env.QUEUE_MAX_DELIVER,
      ackWaitMs: env.QUEUE_ACK_WAIT_MS,
    },
  };
}

export type Config = ReturnType<typeof toConfig>;
