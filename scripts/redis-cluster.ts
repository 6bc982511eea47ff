import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from '../bench/processes.js';

const run = promisify(execFile);

/**
 * A Redis Cluster of this machine's redis-server: 3 primaries and 3 replicas on free ports, data
 * (none persisted) and logs under `dir`. For tests and `npm run cluster`; never the machine's own Redis.
 */
export interface RedisClusterNodes {
  /** `redis+cluster://127.0.0.1:p1,…` for REDIS_URL. */
  url: string;
  ports: number[];
  /** Ports of the nodes that are primaries now (asked of the cluster). */
  primaries(): Promise<number[]>;
  /** SIGKILLs one node; its replica takes over its slots after cluster-node-timeout. */
  kill(port: number): Promise<void>;
  /** Waits until every live node reports cluster_state:ok and every slot has a live primary. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** How long a primary may be silent before its replica is promoted; short, so tests fail over fast. */
const NODE_TIMEOUT_MS = 2000;

export async function startRedisCluster(dir: string, opts: { nodes?: number } = {}): Promise<RedisClusterNodes> {
  const count = opts.nodes ?? 6;
  mkdirSync(dir, { recursive: true });
  const children = new Map<number, ChildProcess>();
  const stop = async () => {
    await Promise.all(
      [...children].map(async ([port, child]) => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGKILL');
          await exited;
        }
        children.delete(port);
      }),
    );
  };
  const ports: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      const busPort = await freePort();
      ports.push(port);
      const fd = openSync(join(dir, `redis-${port}.log`), 'a');
      const child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--cluster-port',
          String(busPort),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          String(NODE_TIMEOUT_MS),
          // A replica takes over however long it was cut off: the sweep repairs what it missed.
          '--cluster-replica-validity-factor',
          '0',
          '--save',
          '',
          '--appendonly',
          'no',
          '--maxmemory-policy',
          'noeviction',
          '--dir',
          dir,
        ],
        { stdio: ['ignore', fd, fd] },
      );
      closeSync(fd);
      children.set(port, child);
    }
    for (const port of ports) await waitPing(port);
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      String(count >= 6 ? 1 : 0),
      '--cluster-yes',
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  const cli = async (port: number, ...args: string[]) =>
    (await run('redis-cli', ['-p', String(port), ...args], { timeout: 3000 })).stdout;
  const alive = () => ports.filter((p) => children.has(p));
  const cluster: RedisClusterNodes = {
    url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
    ports,
    async primaries() {
      for (const port of alive()) {
        try {
          const nodes = await cli(port, 'cluster', 'nodes');
          return nodes
            .split('\n')
            .filter((l) => / master /.test(` ${l.split(' ')[2]?.replace(/,/g, ' ')} `) && !l.includes('fail'))
            .map((l) => Number(/:(\d+)@/.exec(l)![1]));
        } catch {
          // this node is not answering: ask another
        }
      }
      throw new Error('no redis cluster node answers');
    },
    async kill(port) {
      const child = children.get(port);
      if (!child) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      children.delete(port);
    },
    async waitHealthy(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const states = await Promise.all(alive().map((p) => cli(p, 'cluster', 'info').catch(() => '')));
        const primaries = await cluster.primaries().catch(() => [] as number[]);
        const ok = states.every((s) => s.includes('cluster_state:ok'));
        if (ok && primaries.length >= 3 && primaries.every((p) => children.has(p))) return;
        if (Date.now() > deadline) throw new Error(`redis cluster not healthy after ${timeoutMs} ms`);
        await sleep(200);
      }
    },
    stop,
  };
  try {
    await cluster.waitHealthy();
  } catch (err) {
    await stop();
    throw err;
  }
  return cluster;
}

async function waitPing(port: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await run('redis-cli', ['-p', String(port), 'ping'])).stdout.trim() === 'PONG') return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`);
    await sleep(100);
  }
}
