import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { scenarios } from './scenarios.js';

/**
 * CI's short chaos run: `npm run chaos -- --short` (kill -9 of a worker, SIGSTOP of a worker past
 * the ack wait, Redis restarted empty) on its own private servers, every invariant checked; part
 * of `npm test` since the full suite passed three times in a row with different seeds.
 */
const run = promisify(execFile);
const repo = fileURLToPath(new URL('..', import.meta.url));

describe('npm run chaos -- --short', () => {
  it('holds every invariant under a worker crash, a frozen worker and an emptied Redis', async () => {
    const result = await run('npm', ['run', 'chaos', '--', '--short'], { cwd: repo, maxBuffer: 16 * 2 ** 20 }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (err: { code?: number; stdout?: string }) => ({ code: err.code ?? -1, stdout: err.stdout ?? '' }),
    );
    const verdicts = result.stdout.split('\n').filter((l) => /^(PASS|FAIL) \S+ \(/.test(l));
    expect(verdicts.map((l) => l.split(' ')[1])).toEqual(scenarios.filter((s) => s.short).map((s) => s.name));
    expect(
      result.stdout.split('\n').filter((l) => l.trimStart().startsWith('FAIL')),
      result.stdout,
    ).toEqual([]);
    expect(result.code).toBe(0);
  }, 600_000);
});
