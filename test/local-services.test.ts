import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
});
