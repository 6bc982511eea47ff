import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../bench/processes.js';
import { StartupError } from '../src/errors.js';
import { openNats } from '../src/infra/nats.js';
import { createLogger } from '../src/logger.js';

/** The app's own start-up, against a NATS without JetStream (a private one: never the machine's). */
describe('openNats on a NATS without JetStream', () => {
  let server: ChildProcess;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    server = spawn('nats-server', ['-a', '127.0.0.1', '-p', `${port}`], { stdio: 'ignore' });
    const deadline = Date.now() + 15_000;
    for (;;) {
      const up = await new Promise<boolean>((done) => {
        const socket = connect({ host: '127.0.0.1', port }, () => {
          socket.destroy();
          done(true);
        });
        socket.once('error', () => done(false));
      });
      if (up) break;
      if (Date.now() > deadline) throw new Error('nats-server did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  afterAll(async () => {
    if (server.exitCode !== null) return;
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  });

  it('fails with one StartupError that names the problem and the fix, not a JetStreamNotEnabled trace', async () => {
    const opened = openNats(`nats://127.0.0.1:${port}`, 'startup_check', createLogger('silent'));
    await expect(opened).rejects.toBeInstanceOf(StartupError);
    await expect(opened).rejects.toThrow(
      new RegExp(`^NATS at nats://127.0.0.1:${port} has JetStream off.*Run nats-server with -js`),
    );
  });
});
