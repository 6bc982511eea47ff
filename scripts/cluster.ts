/**
 * `npm run cluster`: the whole system on this machine as a cluster of separate processes, from
 * this machine's own binaries: a Redis Cluster (3 primaries, 3 replicas), a 3-node NATS JetStream
 * cluster (streams replicated 3 times), a Postgres primary with a streaming replica, and the app as
 * one process per service: 2 gateways behind HAProxy on PORT (default 4000), 2 booking workers and
 * one each of payments, notifications, expiry and sweeps. Seeded with the demo data; data and logs
 * under .data/cluster/ (started afresh each time). Ctrl-C stops everything it started.
 *
 * Other variables of `npm start` (JWT_SECRET, PAYMENT_PROVIDER, …) pass through to every process.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, spawnNode, waitReady, type Child } from '../bench/processes.js';
import { startClusterEngines } from './cluster-engines.js';
import { startHaproxy } from './haproxy.js';
import { DEFAULT_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD } from './seed.js';
import { seedDeployment } from './seed-demo.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const MAIN = join(ROOT, 'dist', 'src', 'main.js');

/** The app's processes: name, ROLE. */
const PROCESSES: [string, string][] = [
  ['gateway-1', 'gateway'],
  ['gateway-2', 'gateway'],
  ['booking-1', 'booking'],
  ['booking-2', 'booking'],
  ['payments', 'payments'],
  ['notifications', 'notifications'],
  ['expiry', 'expiry'],
  ['sweeps', 'sweeps'],
];

async function main(): Promise<void> {
  const port = Number(process.env['PORT'] ?? 4000);
  const dir = join(ROOT, '.data', 'cluster');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch((err: unknown) => console.error(err));
  };
  let stopping = false;
  const onSignal = () => {
    if (stopping) process.exit(1);
    stopping = true;
    console.log('\ncluster: stopping everything it started…');
    void stopAll().then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const engines = await startClusterEngines(dir, (m) => console.log(m));
    stops.push(() => engines.stop());

    const env: Record<string, string> = {
      DATABASE_URL: engines.primaryUrl,
      // Browsing, search and order history read the replica (see src/infra/database-reads.ts).
      DATABASE_READ_URL: engines.replicaUrl,
      REDIS_URL: engines.redisUrl,
      NATS_URL: engines.natsUrl,
      JETSTREAM_REPLICAS: '3',
      JWT_SECRET: process.env['JWT_SECRET'] ?? randomBytes(32).toString('hex'),
      ADMIN_EMAILS: process.env['ADMIN_EMAILS'] || DEFAULT_ADMIN_EMAIL,
      // The gateways are behind HAProxy on this machine: client addresses come from X-Forwarded-For.
      TRUSTED_PROXIES: process.env['TRUSTED_PROXIES'] ?? '127.0.0.1',
    };
    const children: Child[] = [];
    stops.push(async () => {
      await Promise.all(children.map((c) => c.stop()));
    });
    for (const [i, [name, role]] of PROCESSES.entries()) {
      // The first process migrates the schema; the others wait for it.
      const child = spawnNode(name, MAIN, await freePort(), {
        ...env,
        ROLE: role,
        MIGRATE_ON_START: i === 0 ? 'true' : 'false',
      });
      children.push(child);
      await waitReady(child);
      console.log(`${name} (ROLE=${role}): ${child.url}`);
    }
    const seeded = await seedDeployment({ ...process.env, ...env, MIGRATE_ON_START: 'false' });

    const gateways = children.filter((c) => c.name.startsWith('gateway'));
    const haproxy = startHaproxy(dir, port, gateways);
    stops.push(haproxy);
    console.log(
      [
        '',
        `cluster ready: http://127.0.0.1:${port}/graphql (HAProxy over ${gateways.length} gateways)`,
        seeded ? `  admin: ${seeded.admin.email} / ${DEMO_ADMIN_PASSWORD}` : '',
        `  logs and data: ${dir}`,
        '  Ctrl-C stops everything.',
      ].join('\n'),
    );
  } catch (err) {
    console.error('cluster: start failed:', err);
    await stopAll();
    process.exit(1);
  }
}

void main();
