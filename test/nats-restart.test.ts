import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openNats, type Nats } from '../src/infra/nats.js';
import { runConsumer, type RunningConsumer } from '../src/infra/queue-consumer.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { scratchNamespace } from '../src/infra/namespace.js';
import { eventually } from './support/system.js';

/**
 * A private nats-server (never the machine's), killed with SIGKILL and restarted on its store.
 * After such a restart nats-server can come back with a consumer's ack floor ahead of its stream
 * (it lost the stream's unflushed blocks but kept the consumer's state: nats-server #3996, #5412):
 * messages published afterwards get sequence numbers the consumer counts as acknowledged, and stay
 * in the stream with nothing delivering them. The store is put in that state by removing the
 * stream's message blocks while the server is down.
 */

let dir: string;
let port: number;
let server: ChildProcess | undefined;
let nats: Nats;
let consumer: RunningConsumer;
const received = new Set<number>();
const namespace = scratchNamespace('t');
const log = createLogger('silent');

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port: p } = srv.address() as AddressInfo;
  srv.close();
  return p;
}

async function startServer() {
  server = spawn('nats-server', ['-js', '-sd', dir, '-p', String(port), '-a', '127.0.0.1'], { stdio: 'ignore' });
  await eventually(
    () =>
      new Promise<true | undefined>((resolve) => {
        const probe = createServer();
        probe.once('error', () => resolve(true)); // the port is taken: the server listens
        probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(undefined)));
      }),
    10_000,
    'nats-server listening',
  );
}

async function killServer() {
  const s = server!;
  server = undefined;
  s.kill('SIGKILL');
  if (s.exitCode === null) await once(s, 'exit');
}

/** Publishes, retrying while the connection is still coming back. */
const publish = (n: number) =>
  eventually(
    () => nats.js.publish(nats.names.jobs.paymentEvent('test'), JSON.stringify({ n }), { msgID: `job-${n}` }),
    20_000,
    `publish ${n}`,
  );

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nats-restart-'));
  port = await freePort();
  await startServer();
  nats = await openNats(`nats://127.0.0.1:${port}`, namespace, log);
  consumer = await runConsumer<{ n: number }>({
    nats,
    log,
    metrics: createMetrics(),
    stream: nats.names.streams.payments,
    durable: 'payment-worker',
    ackWaitMs: 2000,
    maxBatch: 8,
    maxDeliver: 5,
    strandedCheckMs: 1000,
    isValid: (data): data is { n: number } => typeof (data as { n?: unknown } | null)?.n === 'number',
    handle(jobs) {
      for (const job of jobs) {
        received.add(job.data.n);
        job.ack();
      }
      return Promise.resolve();
    },
  });
});
afterAll(async () => {
  await consumer?.stop();
  await nats?.close();
  if (server) await killServer();
  await rm(dir, { recursive: true, force: true });
});

describe('nats-server killed with SIGKILL and restarted on its store', () => {
  it(
    'delivers every message published after the restart, even those the consumer counts as acknowledged',
    { timeout: 60_000 },
    async () => {
      for (let n = 0; n < 40; n += 1) await publish(n);
      await eventually(() => (received.size === 40 ? true : undefined), 15_000, 'the first 40 delivered');
      const stream = nats.names.streams.payments;
      await eventually(
        async () => (await nats.jsm.consumers.info(stream, 'payment-worker')).ack_floor.stream_seq === 40 || undefined,
        10_000,
        'every ack recorded',
      );

      // nats-server writes a consumer's state to disk a moment after the acks; kill it once it has.
      const acked = Date.now();
      const consumerState = join(dir, 'jetstream', '$G', 'streams', stream, 'obs', 'payment-worker', 'o.dat');
      await eventually(
        async () => ((await stat(consumerState)).mtimeMs > acked ? true : undefined),
        15_000,
        'consumer state on disk',
      );
      await killServer();
      const blocks = join(dir, 'jetstream', '$G', 'streams', stream, 'msgs');
      for (const file of await readdir(blocks)) await rm(join(blocks, file), { force: true });
      await startServer();

      for (let n = 40; n < 60; n += 1) await publish(n);
      // The state the fix is for: the consumer's floor is past the new messages.
      const info = await nats.jsm.consumers.info(stream, 'payment-worker');
      const state = (await nats.jsm.streams.info(stream)).state;
      expect(info.ack_floor.stream_seq).toBeGreaterThanOrEqual(state.last_seq);

      await eventually(() => (received.size === 60 ? true : undefined), 30_000, 'every message delivered');
      // And nothing is left in the stream that no consumer will deliver.
      await eventually(
        async () => ((await nats.jsm.streams.info(stream)).state.messages === 0 ? true : undefined),
        10_000,
        'stream empty',
      );
      expect([...received].sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    },
  );
});
