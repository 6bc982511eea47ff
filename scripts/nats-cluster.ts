import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../bench/processes.js';

/**
 * A 3-node NATS JetStream cluster of this machine's nats-server: routes between the nodes, each
 * with its own store directory under `dir`, on free ports. For tests and `npm run cluster`.
 * `sync_interval: always` is not set here (2.9 lacks it; it is a production setting, see README).
 */
export interface NatsClusterNodes {
  /** `nats://127.0.0.1:p1,nats://127.0.0.1:p2,…` for NATS_URL. */
  url: string;
  ports: number[];
  kill(port: number): Promise<void>;
  start(port: number): Promise<void>;
  /** Waits until every running node reports a JetStream meta leader. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

interface Node {
  port: number;
  monitorPort: number;
  config: string;
  log: string;
  child?: ChildProcess;
}

export async function startNatsCluster(dir: string, size = 3): Promise<NatsClusterNodes> {
  mkdirSync(dir, { recursive: true });
  const nodes: Node[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) {
    nodes.push({ port: await freePort(), monitorPort: await freePort(), config: '', log: join(dir, `nats-${i}.log`) });
    routePorts.push(await freePort());
  }
  nodes.forEach((node, i) => {
    const store = join(dir, `store-${i}`);
    mkdirSync(store, { recursive: true });
    node.config = join(dir, `nats-${i}.conf`);
    writeFileSync(
      node.config,
      [
        `server_name: n${i}`,
        `listen: 127.0.0.1:${node.port}`,
        `http: 127.0.0.1:${node.monitorPort}`,
        `jetstream { store_dir: "${store}" }`,
        `cluster {`,
        `  name: tix`,
        `  listen: 127.0.0.1:${routePorts[i]}`,
        `  routes: [${routePorts.map((p) => `nats-route://127.0.0.1:${p}`).join(', ')}]`,
        `}`,
      ].join('\n'),
    );
  });
  const startNode = async (node: Node) => {
    const fd = openSync(node.log, 'a');
    node.child = spawn('nats-server', ['-c', node.config], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
  };
  const killNode = async (node: Node) => {
    const child = node.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    node.child = undefined;
  };
  const byPort = (port: number) => {
    const node = nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no nats node on ${port}`);
    return node;
  };
  const cluster: NatsClusterNodes = {
    url: nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(','),
    ports: nodes.map((n) => n.port),
    kill: (port) => killNode(byPort(port)),
    start: (port) => startNode(byPort(port)),
    async waitHealthy(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const running = nodes.filter((n) => n.child);
        const leaders = await Promise.all(
          running.map(async (n) => {
            try {
              const res = await fetch(`http://127.0.0.1:${n.monitorPort}/jsz`);
              const jsz = (await res.json()) as { meta_cluster?: { leader?: string } };
              return jsz.meta_cluster?.leader ?? '';
            } catch {
              return '';
            }
          }),
        );
        if (leaders.every((l) => l !== '')) return;
        if (Date.now() > deadline) throw new Error(`nats cluster has no JetStream leader after ${timeoutMs} ms`);
        await sleep(200);
      }
    },
    async stop() {
      await Promise.all(nodes.map(killNode));
    },
  };
  try {
    await Promise.all(nodes.map(startNode));
    await cluster.waitHealthy();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
