import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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

  it('stops npm test with the start-up check\'s message, not vitest\'s "No test files found"', async () => {
    // A nested vitest whose NATS_URL (set by the user) has no JetStream: its global setup must refuse.
    const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
    const { code, output } = await new Promise<{ code: number | null; output: string }>((done) => {
      execFile(
        process.execPath,
        [vitest, 'run', 'test/node-version.test.ts'],
        {
          cwd: fileURLToPath(new URL('..', import.meta.url)),
          env: { ...process.env, NATS_URL: `nats://127.0.0.1:${port}` },
        },
        (err, stdout, stderr) =>
          done({ code: err ? ((err as { code?: number }).code ?? null) : 0, output: stdout + stderr }),
      );
    });
    expect(code).toBe(1);
    expect(output).toContain(
      `The tests cannot start: nats: NATS_URL points at 127.0.0.1:${port}, which answers but has JetStream off`,
    );
    expect(output).not.toContain('No test files found');
  });
});
