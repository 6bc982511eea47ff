import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../bench/processes.js';
import { ensureLocalServices, urlsFromEnv } from '../scripts/local-services.js';

/**
 * Connects, optionally sends `request`, and resolves with the first line the server answers;
 * null when nothing accepts the connection.
 */
function firstLine(port: number, request?: string): Promise<string | null> {
  return new Promise((done, fail) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    socket.setTimeout(5000, () => {
      socket.destroy();
      fail(new Error(`no answer on port ${port}`));
    });
    socket.once('connect', () => {
      if (request !== undefined) socket.write(request);
    });
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n');
      if (end >= 0) {
        socket.destroy();
        done(received.slice(0, end));
      }
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') done(null);
      else fail(err);
    });
  });
}

const redisPing = (port: number) => firstLine(port, 'PING\r\n');
const natsGreeting = (port: number) => firstLine(port);
const portOf = (url: string) => Number(new URL(url).port);

/** A private server (never the machine's own) as our child, once it answers; kill() stops it. */
async function startPrivate(bin: string, args: string[], port: number): Promise<ChildProcess> {
  const child = spawn(bin, args, { stdio: 'ignore' });
  const deadline = Date.now() + 15_000;
  while ((await firstLine(port, bin.includes('redis') ? 'PING\r\n' : undefined).catch(() => null)) === null) {
    if (Date.now() > deadline) throw new Error(`${bin} did not answer on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}

async function stopPrivate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

describe('ensureLocalServices', () => {
  let dataDir: string;
  // The suite's own Postgres (ensured by the global setup) stands in for "already running".
  const { databaseUrl } = urlsFromEnv();

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'local-services-'));
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('starts Redis and NATS where nothing answers, and stop() shuts them down again', async () => {
    const [redisPort, natsPort] = [await freePort(), await freePort()];
    const services = await ensureLocalServices({
      databaseUrl,
      redisUrl: `redis://127.0.0.1:${redisPort}`,
      natsUrl: `nats://127.0.0.1:${natsPort}`,
      dataDir,
    });
    try {
      expect(services.started).toEqual(['redis', 'nats']);
      expect(await redisPing(redisPort)).toBe('+PONG');
      expect(await natsGreeting(natsPort)).toMatch(/^INFO \{.*"jetstream":true/);
    } finally {
      await services.stop();
    }
    expect(await redisPing(redisPort)).toBeNull();
    expect(await natsGreeting(natsPort)).toBeNull();
  });

  it('leaves services that already answer alone, and its stop() does not touch them', async () => {
    const urls = {
      databaseUrl,
      redisUrl: `redis://127.0.0.1:${await freePort()}`,
      natsUrl: `nats://127.0.0.1:${await freePort()}`,
      dataDir,
    };
    const first = await ensureLocalServices(urls);
    try {
      const second = await ensureLocalServices(urls);
      expect(second.started).toEqual([]);
      await second.stop();
      expect(await redisPing(Number(new URL(urls.redisUrl).port))).toBe('+PONG');
      expect(await natsGreeting(Number(new URL(urls.natsUrl).port))).toMatch(/^INFO /);
    } finally {
      await first.stop();
    }
  });

  describe('a service that answers but cannot serve', () => {
    it('NATS without JetStream: starts its own on a free port and returns its URL', async () => {
      const port = await freePort();
      const plain = await startPrivate('nats-server', ['-a', '127.0.0.1', '-p', `${port}`], port);
      const messages: string[] = [];
      try {
        const urls = { ...urlsFromEnv(), natsUrl: `nats://127.0.0.1:${port}`, setByUser: [], dataDir };
        const services = await ensureLocalServices({ ...urls, log: (m) => messages.push(m) });
        try {
          expect(services.started).toEqual(['nats']);
          const own = portOf(services.urls.natsUrl);
          expect(own).not.toBe(port);
          expect(await natsGreeting(own)).toMatch(/"jetstream":true/);
          expect(messages.join('\n')).toMatch(new RegExp(`127.0.0.1:${port} answers but has JetStream off`));
        } finally {
          await services.stop();
        }
      } finally {
        await stopPrivate(plain);
      }
    });

    it('NATS without JetStream at a NATS_URL the user set: one message with the problem and the fix', async () => {
      const port = await freePort();
      const plain = await startPrivate('nats-server', ['-a', '127.0.0.1', '-p', `${port}`], port);
      try {
        const urls = { ...urlsFromEnv(), natsUrl: `nats://127.0.0.1:${port}`, dataDir };
        await expect(ensureLocalServices({ ...urls, setByUser: ['nats'] })).rejects.toThrow(
          new RegExp(
            `^nats: NATS_URL points at 127.0.0.1:${port}, which answers but has JetStream off .*-js.*unset NATS_URL`,
          ),
        );
      } finally {
        await stopPrivate(plain);
      }
    });

    it('Redis that evicts keys (allkeys-lru): replaced by one of its own, or refused when the user chose it', async () => {
      const port = await freePort();
      const args = ['--port', `${port}`, '--bind', '127.0.0.1', '--save', '', '--maxmemory-policy', 'allkeys-lru'];
      const evicting = await startPrivate('redis-server', args, port);
      try {
        const urls = { ...urlsFromEnv(), redisUrl: `redis://127.0.0.1:${port}`, dataDir };
        await expect(ensureLocalServices({ ...urls, setByUser: ['redis'] })).rejects.toThrow(
          /^redis: REDIS_URL points at .*maxmemory-policy allkeys-lru.*CONFIG SET maxmemory-policy noeviction/,
        );
        const services = await ensureLocalServices({ ...urls, setByUser: [] });
        try {
          expect(services.started).toEqual(['redis']);
          const own = portOf(services.urls.redisUrl);
          expect(own).not.toBe(port);
          const client = new Redis(services.urls.redisUrl);
          try {
            expect(await client.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
          } finally {
            client.disconnect();
          }
        } finally {
          await services.stop();
        }
      } finally {
        await stopPrivate(evicting);
      }
    });

    it('Postgres that refuses the login, at a DATABASE_URL the user set: one message', async () => {
      // A stand-in that answers every login like pg_hba.conf without a matching line.
      const refusing: Server = createServer((socket) => {
        socket.once('data', () => {
          const fields = Buffer.from('SFATAL\0C28000\0Mno pg_hba.conf entry for host "127.0.0.1"\0\0');
          const head = Buffer.alloc(5);
          head.write('E', 0);
          head.writeInt32BE(4 + fields.length, 1);
          socket.end(Buffer.concat([head, fields]));
        });
      });
      await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
      const { port } = refusing.address() as { port: number };
      try {
        const urls = { ...urlsFromEnv(), databaseUrl: `postgres://app@127.0.0.1:${port}/x`, dataDir };
        await expect(ensureLocalServices({ ...urls, setByUser: ['postgres'] })).rejects.toThrow(
          /^postgres: DATABASE_URL points at .* refuses the login as app \(no pg_hba.conf entry .*\)\. Let app log in/,
        );
      } finally {
        await new Promise((r) => refusing.close(r));
      }
    });
  });

  // As root, Postgres runs as the postgres OS user, which may not pass through the project's parents.
  it.skipIf(process.getuid?.() !== 0)(
    'puts the Postgres data under /var/tmp when the postgres user cannot reach the project (as under /root)',
    { timeout: 120_000 },
    async () => {
      const closed = await mkdtemp(join(tmpdir(), 'closed-home-')); // mode 0700, owned by root: like /root
      const projectData = join(closed, 'app', '.data');
      await mkdir(projectData, { recursive: true });
      const messages: string[] = [];
      const port = await freePort();
      let dir: string | undefined;
      try {
        const services = await ensureLocalServices({
          ...urlsFromEnv(),
          databaseUrl: `postgres://postgres@127.0.0.1:${port}/ticketing`,
          setByUser: [],
          dataDir: projectData,
          log: (m) => messages.push(m),
        });
        dir = services.dataDirs.postgres!;
        try {
          expect(services.started).toEqual(['postgres']);
          expect(dir).toMatch(/^\/var\/tmp\/flash-sale-ticketing-postgres-[0-9a-f]{12}$/);
          expect(statSync(dir).mode & 0o777).toBe(0o700);
          expect(messages.join('\n')).toContain(`keeping its data in ${dir}`);
          expect(statSync(closed).mode & 0o777).toBe(0o700); // nothing above the project was opened up
          const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
          await client.connect();
          try {
            const { rows } = await client.query<{ dir: string }>("select current_setting('data_directory') as dir");
            expect(rows[0]!.dir).toBe(dir);
          } finally {
            await client.end();
          }
        } finally {
          await services.stop();
        }
      } finally {
        if (dir) await rm(dir, { recursive: true, force: true });
        await rm(closed, { recursive: true, force: true });
      }
    },
  );
});
