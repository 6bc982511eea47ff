/** The three services local-services.ts can start: how each is probed, found or installed, and run. */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { startChild, waitUntil, type Stop } from './child-processes.ts';
import { aptInstall, findOrInstall, isExecutable, isRoot, pathDirs, run, shellQuote, tail, type Log } from './host.ts';
import { natsHealth, postgresHealth, redisHealth, tcpAnswers, type Health } from './probes.ts';

export type ServiceName = 'postgres' | 'redis' | 'nats';

export interface Service {
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

export function postgres(url: string, dataDir: string): Service {
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

export function redis(url: string): Service {
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

export function nats(url: string): Service {
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
