/**
 * Fresh-machine bootstrap: makes sure Postgres, Redis and NATS answer at the configured URLs and
 * starts a local instance (data and log under `dataDir`) for each one that does not.
 *
 * Used by the test global setup and as a CLI: `node scripts/local-services.ts` starts what is
 * missing and keeps it running until Ctrl-C. Plain TypeScript with node: imports only, so Node 24
 * runs it directly (type stripping) and it needs nothing from node_modules.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  chmodSync,
  chownSync,
  closeSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

export type ServiceName = 'postgres' | 'redis' | 'nats';

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

type Log = (msg: string) => void;
type Stop = () => Promise<void>;

/** What a probe found at host:port. */
type Health =
  | { state: 'ok' }
  | { state: 'absent' }
  /** It answers but cannot serve the app: `problem` says why, `fix` what the user can do. */
  | { state: 'unusable'; problem: string; fix: string };

interface Service {
  name: ServiceName;
  url: string;
  /** The environment variable that holds `url`, for messages. */
  variable: string;
  defaultPort: number;
  /** URL schemes a local instance can serve: we never start a TLS server. */
  plainProtocols: string[];
  /** Whether the right kind of server answers at host:port, and can serve the app. */
  check(host: string, port: number): Promise<Health>;
  /** Finds the binaries (installing them when missing) and starts a server; resolves once it answers. */
  start(host: string, port: number, dir: string, log: Log): Promise<{ stop: Stop; dir: string }>;
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

// --- the three services -----------------------------------------------------------------------

function postgres(url: string, dataDir: string): Service {
  // The superuser of a cluster we create is the URL's user, so the app connects with trust auth.
  const user = decodeURIComponent(new URL(url).username) || 'postgres';
  const hasPassword = new URL(url).password !== '';
  return {
    name: 'postgres',
    url,
    variable: 'DATABASE_URL',
    defaultPort: 5432,
    plainProtocols: ['postgres:', 'postgresql:'],
    check: (host, port) => postgresHealth(host, port, user, hasPassword),
    async start(host, port, wanted, log) {
      const bin = findPostgresBin() ?? (await installPostgres(log));
      const root = isRoot();
      // initdb and postgres refuse to run as root: as root, run them as the postgres OS user.
      const asPostgres = (cmd: string, args: string[]) =>
        root ? run('runuser', ['-u', 'postgres', '--', cmd, ...args]) : run(cmd, args);

      const dir = root ? await postgresDataDir(dataDir, wanted, log) : wanted;
      mkdirSync(dir, { recursive: true });
      if (readdirSync(dir).length === 0) {
        log(`postgres: initdb ${dir} (superuser ${user}, trust auth)`);
        const options = ['--auth=trust', `--username=${user}`, '--encoding=UTF8', '--locale=C.UTF-8'];
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
      return { stop, dir };
    },
  };
}

function redis(url: string): Service {
  const { username, password } = new URL(url);
  const auth = password
    ? ['AUTH', ...(username ? [decodeURIComponent(username)] : []), decodeURIComponent(password)]
    : [];
  return {
    name: 'redis',
    url,
    variable: 'REDIS_URL',
    defaultPort: 6379,
    plainProtocols: ['redis:'],
    check: (host, port) => redisHealth(host, port, auth),
    async start(host, port, dir, log) {
      const bin = await findOrInstall('redis-server', 'redis-server', log);
      // A scratch cache for development and tests: no snapshots, no append-only file, never evicts
      // (the stock gate's counters and holds must not vanish).
      const options = {
        port: `${port}`,
        bind: host,
        save: '',
        appendonly: 'no',
        'maxmemory-policy': 'noeviction',
        dir,
        daemonize: 'no',
      };
      const args = Object.entries(options).flatMap(([name, value]) => [`--${name}`, value]);
      const stop = await startChild(
        'redis',
        bin,
        args,
        dir,
        async () => (await redisHealth(host, port, [])).state === 'ok',
      );
      return { stop, dir };
    },
  };
}

function nats(url: string): Service {
  const { username, password } = new URL(url);
  const credentials: Record<string, string> = password
    ? { user: decodeURIComponent(username), pass: decodeURIComponent(password) }
    : username
      ? { auth_token: decodeURIComponent(username) }
      : {};
  return {
    name: 'nats',
    url,
    variable: 'NATS_URL',
    defaultPort: 4222,
    plainProtocols: ['nats:'],
    check: (host, port) => natsHealth(host, port, credentials),
    async start(host, port, dir, log) {
      const bin = await findOrInstall('nats-server', 'nats-server', log);
      const args = ['-a', host, '-p', `${port}`, '-js', '-sd', dir];
      const stop = await startChild(
        'nats',
        bin,
        args,
        dir,
        async () => (await natsHealth(host, port, {})).state === 'ok',
      );
      return { stop, dir };
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

/**
 * As root: makes sure the postgres OS user exists, and returns a data directory it owns and can
 * reach. That is `wanted` (in the project's .data) unless a directory above it is closed to
 * others, as /root is (mode 0700): then a directory under /var/tmp, keyed by the project's path so
 * that each checkout keeps its own cluster across runs. Permissions above the project stay as
 * they are.
 */
async function postgresDataDir(dataDir: string, wanted: string, log: Log): Promise<string> {
  const exists = await run('id', ['-u', 'postgres']).then(
    () => true,
    () => false,
  );
  if (!exists) {
    await run('useradd', '--system --user-group --no-create-home --shell /usr/sbin/nologin postgres'.split(' '));
  }
  const uid = Number((await run('id', ['-u', 'postgres'])).trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).trim());
  const writable = (dir: string) =>
    run('runuser', ['-u', 'postgres', '--', 'test', '-w', dir]).then(
      () => true,
      () => false,
    );
  mkdirSync(wanted, { recursive: true });
  if (readdirSync(wanted).length === 0) chownSync(wanted, uid, gid);
  // The project's own .data may be private (a mkdtemp); letting others pass through it is ours to do.
  chmodSync(dataDir, statSync(dataDir).mode | 0o001);
  if (await writable(wanted)) return wanted;

  const fallback = join(POSTGRES_FALLBACK_ROOT, `flash-sale-ticketing-postgres-${hashOf(dataDir)}`);
  if (!existsSync(fallback)) {
    mkdirSync(fallback, { mode: 0o700 });
    chownSync(fallback, uid, gid);
  }
  // Only a private directory of the postgres user: /var/tmp is writable by everyone, and one
  // planted there by someone else is not ours to use.
  const info = lstatSync(fallback);
  if (!info.isDirectory() || info.uid !== uid || (info.mode & 0o077) !== 0) {
    throw new Error(`postgres: ${fallback} exists but is not a private directory of the postgres user; remove it`);
  }
  if (!(await writable(fallback))) throw new Error(`postgres: the postgres OS user cannot write ${fallback}`);
  log(
    `postgres: the postgres OS user cannot reach ${wanted} (a directory above it is closed to others); keeping its data in ${fallback}`,
  );
  return fallback;
}

/** Where Postgres data goes when the project's directory is out of the postgres user's reach. */
const POSTGRES_FALLBACK_ROOT = '/var/tmp';

function hashOf(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
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

/**
 * One short conversation with a server: `greet` writes the opening (if the client speaks first),
 * `hear` reads everything received so far and decides, or returns undefined to wait for more.
 * Nothing listening is `absent`; a server that does not decide in time cannot be the right kind.
 */
function converse(
  host: string,
  port: number,
  kind: string,
  greet: (write: (data: string | Buffer) => void) => void,
  hear: (received: Buffer, write: (data: string | Buffer) => void) => Health | undefined,
  timeoutMs = 3000,
): Promise<Health> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    let received = Buffer.alloc(0);
    let connected = false;
    const write = (data: string | Buffer) => socket.write(data);
    const finish = (health: Health) => {
      socket.destroy();
      done(health);
    };
    const notIt: Health = {
      state: 'unusable',
      problem: `does not answer like a ${kind} server`,
      fix: `Free the port or point the URL at a ${kind} server`,
    };
    socket.setTimeout(timeoutMs, () => finish(connected ? notIt : { state: 'absent' }));
    socket.once('connect', () => {
      connected = true;
      greet(write);
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      try {
        const health = hear(received, write);
        if (health) finish(health);
      } catch {
        finish(notIt);
      }
    });
    socket.once('error', () => finish(connected ? notIt : { state: 'absent' }));
    socket.once('close', () => finish(connected ? notIt : { state: 'absent' }));
  });
}

/**
 * Logs in as the URL's user to the maintenance database (the app's own may not exist yet), in the
 * wire protocol (this file has no pg). A password request counts as usable when the URL has one:
 * checking it would need SCRAM here, and the app reports a wrong one clearly.
 */
function postgresHealth(host: string, port: number, user: string, hasPassword: boolean): Promise<Health> {
  const startup = () => {
    const params = Buffer.from(`user\0${user}\0database\0postgres\0\0`, 'utf8');
    const head = Buffer.alloc(8);
    head.writeInt32BE(8 + params.length, 0);
    head.writeInt32BE(196608, 4); // protocol 3.0
    return Buffer.concat([head, params]);
  };
  const terminate = Buffer.from([0x58, 0, 0, 0, 4]); // 'X'
  const fix = `Let ${user} log in (trust in pg_hba.conf, or a password in DATABASE_URL: postgres://${user}:PASSWORD@${host}:${port}/DB)`;
  return converse(
    host,
    port,
    'Postgres',
    (write) => write(startup()),
    (received, write) => {
      for (let at = 0; at + 5 <= received.length;) {
        const type = String.fromCharCode(received[at]!);
        const end = at + 1 + received.readInt32BE(at + 1);
        if (end > received.length) return undefined;
        if (type === 'R') {
          const method = received.readInt32BE(at + 5);
          if (method === 0 || hasPassword) {
            write(terminate);
            return { state: 'ok' };
          }
          return { state: 'unusable', problem: `asks for ${user}'s password, and DATABASE_URL has none`, fix };
        }
        if (type === 'E') {
          const fields = received
            .subarray(at + 5, end)
            .toString('utf8')
            .split('\0');
          const message = fields.find((f) => f.startsWith('M'))?.slice(1) ?? 'unknown error';
          return { state: 'unusable', problem: `refuses the login as ${user} (${message})`, fix };
        }
        if (type !== 'N') throw new Error('not Postgres');
        at = end;
      }
      return undefined;
    },
  );
}

type Resp = string | number | null | { error: string } | Resp[];

/** One RESP reply at `at`, or undefined if it has not fully arrived. */
function parseResp(buf: Buffer, at: number): { value: Resp; next: number } | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const line = buf.toString('latin1', at + 1, eol);
  switch (String.fromCharCode(buf[at]!)) {
    case '+':
      return { value: line, next: eol + 2 };
    case '-':
      return { value: { error: line }, next: eol + 2 };
    case ':':
      return { value: Number(line), next: eol + 2 };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, next: eol + 2 };
      if (buf.length < eol + 2 + length + 2) return undefined;
      return { value: buf.toString('latin1', eol + 2, eol + 2 + length), next: eol + 2 + length + 2 };
    }
    case '*': {
      const items: Resp[] = [];
      let next = eol + 2;
      for (let i = 0; i < Number(line); i++) {
        const item = parseResp(buf, next);
        if (!item) return undefined;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new Error('not RESP');
  }
}

const isRespError = (v: Resp | undefined): v is { error: string } =>
  typeof v === 'object' && v !== null && 'error' in v;

/**
 * PING, then the settings that break the stock gate: eviction (its counters and holds would
 * vanish under memory pressure), a read-only replica, and writes refused after a failed save.
 */
function redisHealth(host: string, port: number, auth: string[]): Promise<Health> {
  const commands = [
    ...(auth.length ? [auth] : []),
    ['PING'],
    ['CONFIG', 'GET', 'maxmemory-policy'],
    ['INFO', 'replication'],
    ['INFO', 'persistence'],
  ];
  const encode = (args: string[]) =>
    `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  const where = `${host}:${port}`;
  return converse(
    host,
    port,
    'Redis',
    (write) => write(commands.map(encode).join('')),
    (received) => {
      const replies: Resp[] = [];
      for (let at = 0; replies.length < commands.length;) {
        const reply = parseResp(received, at);
        if (!reply) return undefined;
        replies.push(reply.value);
        at = reply.next;
      }
      if (auth.length && isRespError(replies.shift())) {
        return { state: 'unusable', problem: 'refuses the password in REDIS_URL', fix: 'Correct the password' };
      }
      const [pong, policy, replication, persistence] = replies;
      if (isRespError(pong)) {
        const needsAuth = /NOAUTH/.test(pong.error);
        return {
          state: 'unusable',
          problem: needsAuth ? 'needs a password' : `refuses PING (${pong.error})`,
          fix: needsAuth ? `Put it in REDIS_URL (redis://:PASSWORD@${where})` : 'Fix the server',
        };
      }
      if (pong !== 'PONG') throw new Error('not Redis');
      // CONFIG may be renamed or disabled (managed services): then the policy cannot be seen here.
      const policyValue = Array.isArray(policy) ? policy[1] : undefined;
      if (typeof policyValue === 'string' && policyValue !== 'noeviction') {
        return {
          state: 'unusable',
          problem: `evicts keys under memory pressure (maxmemory-policy ${policyValue}), which would drop the stock gate's counters and holds`,
          fix: `Set maxmemory-policy noeviction (redis-cli -h ${host} -p ${port} CONFIG SET maxmemory-policy noeviction, and in redis.conf)`,
        };
      }
      if (typeof replication === 'string' && /^role:slave\r?$/m.test(replication)) {
        return { state: 'unusable', problem: 'is a read-only replica', fix: 'Point REDIS_URL at the primary' };
      }
      if (
        typeof persistence === 'string' &&
        /^(rdb_last_bgsave_status|aof_last_write_status):err\r?$/m.test(persistence)
      ) {
        return {
          state: 'unusable',
          problem: 'refuses writes because its last save to disk failed (MISCONF)',
          fix: 'Fix the disk Redis saves to (see its log), or set stop-writes-on-bgsave-error no',
        };
      }
      return { state: 'ok' };
    },
  );
}

/**
 * Connects as a NATS client and asks JetStream for the account's info (`$JS.API.INFO`): a NATS
 * without JetStream (Debian's nats-server package runs so) greets like any other, but cannot hold
 * the app's streams.
 */
function natsHealth(host: string, port: number, credentials: Record<string, string>): Promise<Health> {
  const inbox = `_INBOX.local_services_${process.pid}`;
  const connectOptions = { verbose: false, pedantic: false, protocol: 1, headers: true, no_responders: true };
  const noJetStream = (detail: string): Health => ({
    state: 'unusable',
    problem: `has JetStream off (${detail})`,
    fix: "Run nats-server with -js (JetStream); Debian's nats-server package starts it without",
  });
  let greeted = false;
  return converse(
    host,
    port,
    'NATS',
    () => {}, // the server speaks first
    (received, write) => {
      let at = 0;
      for (;;) {
        const eol = received.indexOf('\r\n', at);
        if (eol < 0) return undefined;
        const line = received.toString('latin1', at, eol);
        at = eol + 2;
        if (!greeted) {
          if (!line.startsWith('INFO ')) throw new Error('not NATS');
          greeted = true;
          const info = JSON.parse(line.slice(5)) as { tls_required?: boolean };
          if (info.tls_required) {
            return { state: 'unusable', problem: 'requires TLS', fix: 'Use a tls:// URL in NATS_URL' };
          }
          const connectJson = JSON.stringify({ ...connectOptions, ...credentials });
          write(`CONNECT ${connectJson}\r\nSUB ${inbox} 1\r\nPUB $JS.API.INFO ${inbox} 0\r\n\r\nPING\r\n`);
          continue;
        }
        if (line.startsWith('-ERR')) {
          return {
            state: 'unusable',
            problem: `refuses the connection (${line.slice(5)})`,
            fix: 'Put the credentials in NATS_URL (nats://USER:PASSWORD@host:port or nats://TOKEN@host:port)',
          };
        }
        if (line === 'PING') write('PONG\r\n');
        const msg = /^(H?)MSG \S+ 1 (?:(\d+) )?(\d+)$/.exec(line);
        if (!msg) continue;
        const total = Number(msg[3]);
        if (received.length < at + total + 2) return undefined;
        const headerLength = msg[1] ? Number(msg[2]) : 0;
        const headers = received.toString('latin1', at, at + headerLength);
        if (/^NATS\/1\.0 503/.test(headers)) return noJetStream('no one answers $JS.API.INFO');
        const body = JSON.parse(received.toString('utf8', at + headerLength, at + total)) as {
          error?: { description?: string };
        };
        return body.error ? noJetStream(body.error.description ?? 'JetStream API error') : { state: 'ok' };
      }
    },
  );
}

/** A TCP port on `host` that was free a moment ago. */
function freePort(host: string): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
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

/**
 * Command-line tools some tests drive (the README's examples need curl and jq): installed with
 * apt-get where missing and possible (root on Debian); otherwise left out, and those tests say so.
 */
export async function ensureTools(tools: { binary: string; aptPackage: string }[], log: Log): Promise<void> {
  const missing = tools.filter((t) => !findOnPath(t.binary));
  if (missing.length === 0 || !isRoot() || !findOnPath('apt-get')) return;
  await aptInstall(
    missing.map((t) => t.aptPackage),
    missing.map((t) => t.binary).join(', '),
    log,
  );
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
  log(`apt-get install -y ${list} (its services neither started nor enabled: the project runs its own)`);
  // policy-rc.d answering 101 ("action forbidden") keeps the packages' postinst scripts from
  // starting their services (invoke-rc.d and deb-systemd-invoke ask it), as Debian's Docker images do.
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy)
    writeFileSync(policy, '#!/bin/sh\n# scripts/local-services.ts, during apt-get install\nexit 101\n', {
      mode: 0o755,
    });
  try {
    await run('apt-get', ['install', '-y', '--no-install-recommends', ...packages], env);
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
  // The postinst scripts still enable them for the next boot (systemd units, SysV links): undo
  // that, so the machine is as it was. Best effort; each tool may be missing.
  for (const pkg of packages) {
    const files = (await run('dpkg', ['-L', pkg]).catch(() => '')).split('\n');
    for (const unit of files.filter((f) => /\/systemd\/system\/[^/@]+\.service$/.test(f))) {
      const name = unit.slice(unit.lastIndexOf('/') + 1);
      // Without a running systemd (a container, a chroot) systemctl fails: remove the links it would.
      await run('systemctl', ['disable', '--now', name])
        .catch(() => removeSystemdLinks(name))
        .then(
          () => log(`${name}: disabled (apt-get enables it on install)`),
          () => undefined,
        );
    }
    for (const script of files.filter((f) => /^\/etc\/init\.d\/[^/]+$/.test(f))) {
      await run('update-rc.d', [script.slice('/etc/init.d/'.length), 'disable']).catch(() => undefined);
    }
  }
}

/** What `systemctl disable` does offline: removes the unit's links from /etc/systemd/system/*.wants. */
function removeSystemdLinks(unit: string): void {
  const etc = '/etc/systemd/system';
  if (!existsSync(etc)) return;
  for (const wants of readdirSync(etc).filter((d) => d.endsWith('.wants'))) {
    const link = join(etc, wants, unit);
    if (lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink()) rmSync(link);
  }
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
