/**
 * Fresh-machine bootstrap: makes sure Postgres, Redis and NATS answer at the configured URLs and
 * starts a local instance (data and log under `dataDir`) for each one that does not.
 *
 * Used by the test global setup and as a CLI: `node scripts/local-services.ts` starts what is
 * missing and keeps it running until Ctrl-C. Plain TypeScript with node: imports only, so Node 24
 * runs it directly (type stripping) and it needs nothing from node_modules.
 */
import { execFile, spawn } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

export interface LocalServicesOptions {
  databaseUrl: string;
  redisUrl: string;
  natsUrl: string;
  /** Started services keep their data and log in `<dataDir>/postgres`, `<dataDir>/redis`, `<dataDir>/nats`. */
  dataDir: string;
  /** Progress messages (default: none). */
  log?: (msg: string) => void;
}

export interface LocalServices {
  /** Stops what this call started, newest first; services that already answered are never touched. */
  stop(): Promise<void>;
  /** Names of the services this call started: a subset of `postgres`, `redis`, `nats`. */
  started: string[];
}

/** The same variables and defaults as src/config.ts, which this file cannot import (it pulls zod). */
export function urlsFromEnv(env: Record<string, string | undefined> = process.env) {
  // Like the config module, an empty value counts as "not set".
  return {
    databaseUrl: env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/ticketing',
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
    natsUrl: env.NATS_URL || 'nats://127.0.0.1:4222',
  };
}

type Log = (msg: string) => void;
type Stop = () => Promise<void>;

interface Service {
  name: string;
  url: string;
  defaultPort: number;
  /** URL schemes a local instance can serve: we never start a TLS server. */
  plainProtocols: string[];
  /** Whether the right kind of server answers at host:port. */
  answers(host: string, port: number): Promise<boolean>;
  /** Finds the binaries (installing them when missing) and starts a server; resolves once it answers. */
  start(host: string, port: number, dir: string, log: Log): Promise<Stop>;
}

export async function ensureLocalServices(opts: LocalServicesOptions): Promise<LocalServices> {
  const log = opts.log ?? (() => {});
  const dataDir = resolve(opts.dataDir);
  const services: Service[] = [postgres(opts.databaseUrl, dataDir), redis(opts.redisUrl), nats(opts.natsUrl)];

  const running: { name: string; stop: Stop }[] = [];
  const stopAll = async () => {
    // splice makes a second stop() a no-op; one failure does not keep the others running.
    const failures: unknown[] = [];
    for (const service of running.splice(0).reverse()) await service.stop().catch((err: unknown) => failures.push(err));
    if (failures.length > 0) throw new AggregateError(failures, `could not stop: ${failures.map(String).join('; ')}`);
  };
  // One after the other: a few seconds slower on a fresh machine, but apt-get runs never overlap.
  try {
    for (const service of services) {
      const stop = await ensure(service, dataDir, log);
      if (stop) running.push({ name: service.name, stop });
    }
  } catch (err) {
    await stopAll().catch(() => {}); // the first error is the one worth reporting
    throw err;
  }
  return { started: running.map((s) => s.name), stop: stopAll };
}

/** Starts the service unless something already serves it; returns how to stop what it started. */
async function ensure(service: Service, dataDir: string, log: Log): Promise<Stop | null> {
  const { name } = service;
  const url = new URL(service.url);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = url.port ? Number(url.port) : service.defaultPort;
  const where = `${host}:${port}`;
  if (await service.answers(host, port)) {
    log(`${name}: ${where} answers; using it as it is`);
    return null;
  }
  if (!service.plainProtocols.includes(url.protocol)) {
    throw new Error(`${name}: nothing answers at ${where}, and a local instance cannot serve ${url.protocol} (TLS)`);
  }
  if (!isThisMachine(host)) {
    throw new Error(
      `${name}: nothing answers at ${where}, and ${host} is not this machine, so it cannot be started here`,
    );
  }
  const dir = join(dataDir, name);
  log(`${name}: nothing answers at ${where}; starting one with data in ${dir}`);
  try {
    const stop = await service.start(host, port, dir, log);
    log(`${name}: started at ${where}`);
    return stop;
  } catch (err) {
    // Another process may have started it meanwhile (two test runs at once; a package that starts
    // its service on install): then it is theirs to run.
    if (await service.answers(host, port)) {
      log(`${name}: ${where} answers now (started by someone else); using it as it is`);
      return null;
    }
    throw err;
  }
}

// --- the three services -----------------------------------------------------------------------

function postgres(url: string, dataDir: string): Service {
  return {
    name: 'postgres',
    url,
    defaultPort: 5432,
    plainProtocols: ['postgres:', 'postgresql:'],
    answers: tcpAnswers,
    async start(host, port, dir, log) {
      const bin = findPostgresBin() ?? (await installPostgres(log));
      // The superuser is the URL's user, so the app connects with trust auth and no further setup.
      const superuser = decodeURIComponent(new URL(url).username) || 'postgres';
      const root = isRoot();
      // initdb and postgres refuse to run as root: as root, run them as the postgres OS user.
      const asPostgres = (cmd: string, args: string[]) =>
        root ? run('runuser', ['-u', 'postgres', '--', cmd, ...args]) : run(cmd, args);

      mkdirSync(dir, { recursive: true });
      if (root) await preparePostgresDir(dataDir, dir);
      if (readdirSync(dir).length === 0) {
        log(`postgres: initdb ${dir} (superuser ${superuser}, trust auth)`);
        const options = ['--auth=trust', `--username=${superuser}`, '--encoding=UTF8', '--locale=C.UTF-8'];
        await asPostgres(join(bin, 'initdb'), ['-D', dir, ...options]);
      }
      // Inside the data directory, which the postgres user owns; initdb wanted it empty, hence after.
      const logFile = join(dir, 'postgres.log');
      const pgCtl = join(bin, 'pg_ctl');
      // -o is passed through a shell by pg_ctl, hence the quoting; -k puts the Unix socket in the data
      // directory, because the default (/var/run/postgresql) may not exist or not be ours.
      const serverOptions = `-p ${port} -k ${shellQuote(dir)} -c listen_addresses=${shellQuote(host)}`;
      const stop = async () => {
        await asPostgres(pgCtl, ['-D', dir, '-m', 'fast', '-w', 'stop']).catch(async (err: unknown) => {
          // Already down (say Ctrl-C reached it first) is what we wanted.
          if (await tcpAnswers(host, port)) throw err;
        });
      };
      try {
        await asPostgres(pgCtl, ['-D', dir, '-o', serverOptions, '-l', logFile, '-w', '-t', '60', 'start']);
      } catch (err) {
        // No stop() here: a failed start may mean another process runs a server on this data directory.
        throw new Error(`postgres did not start at ${host}:${port}; log ${logFile}:\n${tail(logFile)}`, { cause: err });
      }
      try {
        await waitUntil('postgres', logFile, () => tcpAnswers(host, port), 10_000);
      } catch (err) {
        await stop(); // it came up, but not where we wanted it: do not leave it behind
        throw err;
      }
      return stop;
    },
  };
}

function redis(url: string): Service {
  return {
    name: 'redis',
    url,
    defaultPort: 6379,
    plainProtocols: ['redis:'],
    answers: tcpAnswers,
    async start(host, port, dir, log) {
      const bin = await findOrInstall('redis-server', 'redis-server', log);
      // A scratch cache for development and tests: no snapshots, no append-only file.
      const options = { port: `${port}`, bind: host, save: '', appendonly: 'no', dir, daemonize: 'no' };
      const args = Object.entries(options).flatMap(([name, value]) => [`--${name}`, value]);
      return startChild('redis', bin, args, dir, () => tcpAnswers(host, port));
    },
  };
}

function nats(url: string): Service {
  return {
    name: 'nats',
    url,
    defaultPort: 4222,
    plainProtocols: ['nats:'],
    answers: natsAnswers,
    async start(host, port, dir, log) {
      const bin = await findOrInstall('nats-server', 'nats-server', log);
      const args = ['-a', host, '-p', `${port}`, '-js', '-sd', dir];
      return startChild('nats', bin, args, dir, () => natsAnswers(host, port));
    },
  };
}

// --- Postgres specifics ------------------------------------------------------------------------

/** A directory with both initdb and pg_ctl: PATH first, then Debian's /usr/lib/postgresql/<newest>/bin. */
function findPostgresBin(): string | undefined {
  const debian = '/usr/lib/postgresql';
  const versions = existsSync(debian)
    ? readdirSync(debian)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => join(debian, v, 'bin'))
    : [];
  for (const dir of [...pathDirs(), ...versions]) {
    const initdb = join(dir, 'initdb');
    if (isExecutable(initdb) && isExecutable(join(dir, 'pg_ctl'))) {
      // PATH often holds symlinks; the real directory keeps initdb, pg_ctl and postgres of one version together.
      return dirname(realpathSync(initdb));
    }
  }
  return undefined;
}

async function installPostgres(log: Log): Promise<string> {
  await aptInstall(['postgresql-common'], 'postgres (initdb, pg_ctl)', log);
  // Otherwise the package creates and starts its own "main" cluster on 5432, with password auth;
  // we want only the cluster we create (the official postgres Docker image does the same).
  const conf = '/etc/postgresql-common/createcluster.conf';
  if (existsSync(conf)) {
    writeFileSync(
      conf,
      readFileSync(conf, 'utf8').replace(/^#?\s*create_main_cluster\s*=.*$/m, 'create_main_cluster = false'),
    );
  }
  await aptInstall(['postgresql'], 'postgres (initdb, pg_ctl)', log);
  const bin = findPostgresBin();
  if (!bin) throw new Error('postgres: apt-get installed postgresql, but initdb and pg_ctl are still not found');
  return bin;
}

/** As root: makes sure the postgres OS user exists, owns the data directory and can reach it. */
async function preparePostgresDir(dataDir: string, dir: string): Promise<void> {
  const exists = await run('id', ['-u', 'postgres']).then(
    () => true,
    () => false,
  );
  if (!exists) {
    await run('useradd', '--system --user-group --no-create-home --shell /usr/sbin/nologin postgres'.split(' '));
  }
  if (readdirSync(dir).length === 0) await run('chown', ['postgres:', dir]);
  const reachable = () =>
    run('runuser', ['-u', 'postgres', '--', 'test', '-w', dir]).then(
      () => true,
      () => false,
    );
  if (await reachable()) return;
  // Typically dataDir is a private temporary directory (mode 0700): let others pass through it.
  chmodSync(dataDir, statSync(dataDir).mode | 0o001);
  if (!(await reachable())) {
    throw new Error(
      `postgres: the postgres OS user cannot write ${dir}; make every directory above it searchable (chmod o+x)`,
    );
  }
}

// --- child processes ---------------------------------------------------------------------------

/** Runs a server in the foreground as our child, output appended to `<dir>/<name>.log`. */
async function startChild(
  name: string,
  bin: string,
  args: string[],
  dir: string,
  ready: () => Promise<boolean>,
): Promise<Stop> {
  mkdirSync(dir, { recursive: true });
  const logFile = join(dir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd); // the child has its own copy
  let exit: string | undefined;
  const exited = new Promise<void>((done) => {
    child.once('error', (err) => {
      exit = `could not be started (${err.message})`;
      done();
    });
    child.once('exit', (code, signal) => {
      exit = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      done();
    });
  });
  const stop = async () => {
    if (exit !== undefined) return; // already gone, e.g. Ctrl-C reached it too
    child.kill('SIGTERM');
    const gone = await Promise.race([exited.then(() => true), sleep(10_000, false, { ref: false })]);
    if (!gone) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  try {
    await waitUntil(name, logFile, ready, 15_000, () => exit);
  } catch (err) {
    await stop();
    throw err;
  }
  return stop;
}

/** Polls until `ready()`; fails early when `exited()` reports that the server is gone. */
async function waitUntil(
  name: string,
  logFile: string,
  ready: () => Promise<boolean>,
  timeoutMs: number,
  exited: () => string | undefined = () => undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ready()) return;
    const exit = exited();
    if (exit) throw new Error(`${name} ${exit} before accepting connections; log ${logFile}:\n${tail(logFile)}`);
    if (Date.now() > deadline) {
      throw new Error(
        `${name} did not accept connections within ${timeoutMs / 1000} s; log ${logFile}:\n${tail(logFile)}`,
      );
    }
    await sleep(100);
  }
}

// --- probes ------------------------------------------------------------------------------------

/** Whether anything accepts a TCP connection at host:port. */
function tcpAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/** Whether a NATS server answers: it greets every new connection with an `INFO {...}` line. */
function natsAnswers(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    let received = '';
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes('\n')) finish(received.startsWith('INFO '));
    });
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
  });
}

// --- small helpers -----------------------------------------------------------------------------

const execFileAsync = promisify(execFile);

/** Runs a command to completion; the error names the command and carries its stderr. */
async function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    // cwd '/': the postgres user may not be allowed into ours.
    const { stdout } = await execFileAsync(cmd, args, { env, cwd: '/', maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const { stderr, message } = err as { stderr?: string; message: string };
    throw new Error(`${[cmd, ...args].join(' ')} failed: ${(stderr || message).trim()}`, { cause: err });
  }
}

async function findOrInstall(binary: string, aptPackage: string, log: Log): Promise<string> {
  const found = findOnPath(binary);
  if (found) return found;
  await aptInstall([aptPackage], binary, log);
  const installed = findOnPath(binary);
  if (!installed) throw new Error(`apt-get installed ${aptPackage}, but ${binary} is still not on PATH`);
  return installed;
}

let aptUpdated = false;

async function aptInstall(packages: string[], what: string, log: Log): Promise<void> {
  const list = packages.join(' ');
  if (!isRoot()) {
    throw new Error(
      `${what} is not installed. Install it (sudo apt-get install -y ${list}) or point the URL at a running server.`,
    );
  }
  if (!findOnPath('apt-get')) {
    throw new Error(`${what} is not installed and there is no apt-get here; install the ${list} package(s) yourself.`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    log('apt-get update');
    await run('apt-get', ['update'], env);
    aptUpdated = true;
  }
  log(`apt-get install -y ${list}`);
  await run('apt-get', ['install', '-y', '--no-install-recommends', ...packages], env);
}

function pathDirs(): string[] {
  return (process.env.PATH ?? '').split(delimiter).filter(Boolean);
}

function findOnPath(name: string): string | undefined {
  return pathDirs()
    .map((dir) => join(dir, name))
    .find(isExecutable);
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Loopback, a wildcard, or one of this machine's interface addresses. */
function isThisMachine(host: string): boolean {
  if (['localhost', '0.0.0.0', '::'].includes(host)) return true;
  return Object.values(networkInterfaces()).some((addresses) => addresses?.some((a) => a.address === host));
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The last lines of a log file, for error messages. */
function tail(file: string, lines = 10): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log written)';
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
