import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from '../bench/processes.js';

/**
 * Private Postgres, Redis and NATS on free ports with data under one temporary directory, never
 * the machine's own servers. Each can be killed (-9), stopped and started, frozen (SIGSTOP) and
 * thawed; Redis restarts empty (no persistence), NATS restarts on its store.
 */
export interface Service {
  name: string;
  port: number;
  kill9(): Promise<void>;
  start(): Promise<void>;
  /** Stops it the way it stops on a crash (Postgres: `pg_ctl -m immediate`). */
  stopNow(): Promise<void>;
  freeze(): void;
  thaw(): void;
  pids(): number[];
}

export interface PrivateServices {
  dir: string;
  postgres: Service;
  redis: Service;
  nats: Service;
  stop(): Promise<void>;
}

const run = promisify(execFile);
const PG_BIN = '/usr/lib/postgresql/15/bin';

export async function startPrivateServices(log: (msg: string) => void): Promise<PrivateServices> {
  // The postgres OS user must reach its data directory: mkdtemp makes it 0700 and ours.
  const dir = mkdtempSync(join(tmpdir(), 'chaos-'));
  chmodSync(dir, 0o711);
  const started: Service[] = [];
  const stop = async () => {
    for (const s of started.splice(0).reverse()) await s.stopNow().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const make of [postgres, redis, nats]) {
      const service = await make(dir);
      started.push(service);
      await service.start();
      log(`${service.name}: 127.0.0.1:${service.port}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const [pg, rd, nt] = started as [Service, Service, Service];
  return { dir, postgres: pg, redis: rd, nats: nt, stop };
}

async function postgres(root: string): Promise<Service> {
  const port = await freePort();
  const dir = join(root, 'postgres');
  mkdirSync(dir);
  const asPostgres = (cmd: string, args: string[]) =>
    run('runuser', ['-u', 'postgres', '--', join(PG_BIN, cmd), ...args], { cwd: '/' });
  await run('chown', ['postgres:', dir]);
  await asPostgres('initdb', ['-D', dir, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--locale=C.UTF-8']);
  // fsync off: a crash here is the server's, never the machine's, so the page cache survives it.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const postmaster = () => Number(readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n', 1)[0]);
  const service: Service = {
    name: 'postgres',
    port,
    async start() {
      await asPostgres('pg_ctl', [
        '-D',
        dir,
        '-o',
        options,
        '-l',
        join(dir, 'postgres.log'),
        '-w',
        '-t',
        '60',
        'start',
      ]);
      await waitTcp(port);
    },
    async stopNow() {
      await asPostgres('pg_ctl', ['-D', dir, '-m', 'immediate', '-w', 'stop']);
    },
    async kill9() {
      for (const pid of this.pids()) signal(pid, 'SIGKILL');
      await waitGone(port);
    },
    freeze() {
      for (const pid of this.pids()) signal(pid, 'SIGSTOP');
    },
    thaw() {
      for (const pid of this.pids()) signal(pid, 'SIGCONT');
    },
    pids() {
      try {
        const main = postmaster();
        return [main, ...childrenOf(main)];
      } catch {
        return [];
      }
    },
  };
  return service;
}

async function redis(root: string): Promise<Service> {
  const port = await freePort();
  const dir = join(root, 'redis');
  mkdirSync(dir);
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  return childService('redis', 'redis-server', args, dir, port);
}

async function nats(root: string): Promise<Service> {
  const port = await freePort();
  const dir = join(root, 'nats');
  mkdirSync(dir);
  return childService('nats', 'nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], dir, port);
}

/** A server that runs as our child process; restarting it starts a new one on the same port and data. */
function childService(name: string, bin: string, args: string[], dir: string, port: number): Service {
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  return {
    name,
    port,
    async start() {
      const fd = openSync(join(dir, `${name}.log`), 'a');
      const proc = spawn(bin, args, { stdio: ['ignore', fd, fd] });
      closeSync(fd);
      child = proc;
      exited = new Promise((resolve) => proc.once('exit', () => resolve()));
      await waitTcp(port);
    },
    async stopNow() {
      await this.kill9();
    },
    async kill9() {
      if (child?.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      await waitGone(port);
    },
    freeze() {
      child?.kill('SIGSTOP');
    },
    thaw() {
      child?.kill('SIGCONT');
    },
    pids() {
      return child?.pid !== undefined && child.exitCode === null ? [child.pid] : [];
    },
  };
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // exited meanwhile
  }
}

function childrenOf(parent: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function tcpAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

async function waitTcp(port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await tcpAnswers(port))) {
    if (Date.now() > deadline) throw new Error(`nothing answers on port ${port} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function waitGone(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await tcpAnswers(port)) && Date.now() < deadline) await sleep(100);
}
