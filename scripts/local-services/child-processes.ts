/** Servers run as our children, and waiting until a server accepts connections. */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tail } from './host.ts';

/** Stops what was started. */
export type Stop = () => Promise<void>;

/** Runs a server in the foreground as our child, output appended to `<dir>/<name>.log`. */
export async function startChild(
  name: string,
  bin: string,
  args: string[],
  dir: string,
  ready: () => Promise<boolean>,
): Promise<Stop> {
  mkdirSync(dir, { recursive: true });
  const logFile = join(dir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd); // the child has its own copy
  let exit: string | undefined;
  const exited = new Promise<void>((done) => {
    child.once('error', (err) => {
      exit = `could not be started (${err.message})`;
      done();
    });
    child.once('exit', (code, signal) => {
      exit = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      done();
    });
  });
  const stop = async () => {
    if (exit !== undefined) return; // already gone, e.g. Ctrl-C reached it too
    child.kill('SIGTERM');
    const gone = await Promise.race([exited.then(() => true), sleep(10_000, false, { ref: false })]);
    if (!gone) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  try {
    await waitUntil(name, logFile, ready, 15_000, () => exit);
  } catch (err) {
    await stop();
    throw err;
  }
  return stop;
}

/** Polls until `ready()`; fails early when `exited()` reports that the server is gone. */
export async function waitUntil(
  name: string,
  logFile: string,
  ready: () => Promise<boolean>,
  timeoutMs: number,
  exited: () => string | undefined = () => undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ready()) return;
    const exit = exited();
    if (exit) throw new Error(`${name} ${exit} before accepting connections; log ${logFile}:\n${tail(logFile)}`);
    if (Date.now() > deadline) {
      throw new Error(
        `${name} did not accept connections within ${timeoutMs / 1000} s; log ${logFile}:\n${tail(logFile)}`,
      );
    }
    await sleep(100);
  }
}
