/**
 * Fresh-machine bootstrap: makes sure Postgres, Redis and NATS answer at the configured URLs and
 * starts a local instance (data and log under `dataDir`) for each one that does not.
 *
 * Used by the test global setup and as a CLI: `node scripts/local-services.ts` starts what is
 * missing and keeps it running until Ctrl-C. Plain TypeScript with node: imports only, so Node 24
 * runs it directly (type stripping) and it needs nothing from node_modules. Its parts under
 * local-services/ are imported by their .ts names, which type stripping needs (tsc rewrites them
 * to .js: rewriteRelativeImportExtensions).
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Stop } from './local-services/child-processes.ts';
import { isThisMachine, type Log } from './local-services/host.ts';
import { freePort, tcpAnswers, type Health } from './local-services/probes.ts';
import { nats, postgres, redis, type Service, type ServiceName } from './local-services/services.ts';

export { ensureTools } from './local-services/host.ts';
export type { ServiceName } from './local-services/services.ts';

export interface LocalServicesOptions {
  databaseUrl: string;
  redisUrl: string;
  natsUrl: string;
  /**
   * Services whose URL the user chose (the variable was set). One of those that answers but cannot
   * serve stops the start with a message; any other is replaced by an instance of our own on a free
   * port.
   */
  setByUser?: ServiceName[];
  /** Started services keep their data and log in `<dataDir>/postgres`, `<dataDir>/redis`, `<dataDir>/nats`. */
  dataDir: string;
  /** Progress messages (default: none). */
  log?: (msg: string) => void;
}

export interface LocalServices {
  /** Stops what this call started, newest first; services that already answered are never touched. */
  stop(): Promise<void>;
  /** Names of the services this call started: a subset of `postgres`, `redis`, `nats`. */
  started: ServiceName[];
  /** The URLs to use: the given ones, except where an instance of our own took another port. */
  urls: { databaseUrl: string; redisUrl: string; natsUrl: string };
  /** Where each started service keeps its data. */
  dataDirs: Partial<Record<ServiceName, string>>;
}

/** The same variables and defaults as src/config.ts, which this file cannot import (it pulls zod). */
export function urlsFromEnv(env: Record<string, string | undefined> = process.env) {
  // Like the config module, an empty value counts as "not set".
  const setByUser: ServiceName[] = [];
  if (env.DATABASE_URL) setByUser.push('postgres');
  if (env.REDIS_URL) setByUser.push('redis');
  if (env.NATS_URL) setByUser.push('nats');
  return {
    databaseUrl: env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/ticketing',
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
    natsUrl: env.NATS_URL || 'nats://127.0.0.1:4222',
    setByUser,
  };
}

export async function ensureLocalServices(opts: LocalServicesOptions): Promise<LocalServices> {
  const log = opts.log ?? (() => {});
  const dataDir = resolve(opts.dataDir);
  const services: Service[] = [postgres(opts.databaseUrl, dataDir), redis(opts.redisUrl), nats(opts.natsUrl)];
  const urls = { databaseUrl: opts.databaseUrl, redisUrl: opts.redisUrl, natsUrl: opts.natsUrl };
  const key = { postgres: 'databaseUrl', redis: 'redisUrl', nats: 'natsUrl' } as const;
  const dataDirs: LocalServices['dataDirs'] = {};

  const running: { name: ServiceName; stop: Stop }[] = [];
  const stopAll = async () => {
    // splice makes a second stop() a no-op; one failure does not keep the others running.
    const failures: unknown[] = [];
    for (const service of running.splice(0).reverse()) await service.stop().catch((err: unknown) => failures.push(err));
    if (failures.length > 0) throw new AggregateError(failures, `could not stop: ${failures.map(String).join('; ')}`);
  };
  // One after the other: a few seconds slower on a fresh machine, but apt-get runs never overlap.
  try {
    for (const service of services) {
      const started = await ensure(service, dataDir, opts.setByUser?.includes(service.name) ?? false, log);
      if (!started) continue;
      running.push({ name: service.name, stop: started.stop });
      urls[key[service.name]] = started.url;
      dataDirs[service.name] = started.dir;
    }
  } catch (err) {
    await stopAll().catch(() => {}); // the first error is the one worth reporting
    throw err;
  }
  const started = running.map((s) => s.name);
  return { started, urls, dataDirs, stop: stopAll };
}

/**
 * Starts the service unless something usable already serves it: at its URL when nothing answers
 * there, on a free port when what answers cannot serve (unless the user chose that URL: then it
 * fails with the problem and the fix). Returns what it started, or null.
 */
async function ensure(
  service: Service,
  dataDir: string,
  setByUser: boolean,
  log: Log,
): Promise<{ stop: Stop; url: string; dir: string } | null> {
  const { name } = service;
  const url = new URL(service.url);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = url.port ? Number(url.port) : service.defaultPort;
  const where = `${host}:${port}`;
  const plain = service.plainProtocols.includes(url.protocol);
  // Over TLS we only see that something listens: a managed service, which we take as it is.
  const health: Health = plain
    ? await service.check(host, port)
    : (await tcpAnswers(host, port))
      ? { state: 'ok' }
      : { state: 'absent' };
  if (health.state === 'ok') {
    log(`${name}: ${where} answers; using it as it is`);
    return null;
  }
  if (!plain) {
    throw new Error(`${name}: nothing answers at ${where}, and a local instance cannot serve ${url.protocol} (TLS)`);
  }
  if (!isThisMachine(host)) {
    const why = health.state === 'absent' ? 'nothing answers' : health.problem;
    throw new Error(`${name}: at ${where} ${why}, and ${host} is not this machine, so it cannot be started here`);
  }
  let startPort = port;
  if (health.state === 'unusable') {
    if (setByUser) {
      throw new Error(
        `${name}: ${service.variable} points at ${where}, which answers but ${health.problem}. ` +
          `${health.fix}, or unset ${service.variable} to let the project run its own ${name}.`,
      );
    }
    startPort = await freePort(host);
    log(`${name}: ${where} answers but ${health.problem}; starting our own on ${host}:${startPort} instead`);
  }
  const startWhere = `${host}:${startPort}`;
  if (health.state === 'absent') log(`${name}: nothing answers at ${where}; starting one`);
  try {
    const started = await service.start(host, startPort, join(dataDir, name), log);
    log(`${name}: started at ${startWhere}, data in ${started.dir}`);
    url.port = String(startPort);
    return { ...started, url: url.toString() };
  } catch (err) {
    // Another process may have started it meanwhile (two test runs at once; a package that starts
    // its service on install): then it is theirs to run.
    if (startPort === port && (await service.check(host, port)).state === 'ok') {
      log(`${name}: ${startWhere} answers now (started by someone else); using it as it is`);
      return null;
    }
    throw err;
  }
}

// --- CLI ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const repo = dirname(dirname(fileURLToPath(import.meta.url)));
  const services = await ensureLocalServices({ ...urlsFromEnv(), dataDir: join(repo, '.data'), log: console.log });
  if (services.started.length === 0) {
    console.log('Postgres, Redis and NATS all answer; nothing to start.');
    return;
  }
  console.log(`Started ${services.started.join(', ')}; they run until Ctrl-C (SIGINT) or SIGTERM.`);
  const given = urlsFromEnv();
  const variables = { databaseUrl: 'DATABASE_URL', redisUrl: 'REDIS_URL', natsUrl: 'NATS_URL' } as const;
  for (const [key, variable] of Object.entries(variables) as [keyof typeof variables, string][]) {
    if (services.urls[key] !== given[key]) console.log(`  for the app: export ${variable}=${services.urls[key]}`);
  }
  // Signal listeners do not keep Node alive, and a pg_ctl-started Postgres is not our child.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const signal = await new Promise<string>((done) => {
    process.once('SIGINT', () => done('SIGINT'));
    process.once('SIGTERM', () => done('SIGTERM'));
  });
  clearInterval(keepAlive);
  console.log(`${signal}: stopping ${services.started.join(', ')}`);
  await services.stop();
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
