import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSchema, parse, validate } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_ADMIN_PASSWORD, seedDemoData } from '../scripts/seed.js';
import { startTestSystem, type TestSystem } from './support/system.js';

/**
 * The README's examples and the clients in examples/ are run here, as a reader would run them,
 * against a test system seeded with the demo data, so an example that stops working fails a test.
 */

const root = new URL('..', import.meta.url).pathname;
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** A fenced block of the README: its language and its lines. */
interface Block {
  lang: string;
  code: string;
  line: number;
}

function fencedBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i] ?? '');
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ''); i++) body.push(lines[i] ?? '');
    blocks.push({ lang: open[1] ?? '', code: body.join('\n'), line: start + 1 });
  }
  return blocks;
}

/**
 * A runnable block says so on its first line: `# example: <name>` in a `sh` block (run in one bash
 * session, in README order), `// example: <file>.mjs` in a `js` block (saved under that name; a
 * later `sh` block runs it).
 */
interface RunnableBlock extends Block {
  name: string;
}

function runnableBlocks(markdown: string): RunnableBlock[] {
  return fencedBlocks(markdown).flatMap((b) => {
    const marker =
      b.lang === 'sh'
        ? /^# example: (.+)$/.exec(b.code.split('\n')[0] ?? '')
        : /^\/\/ example: (\S+\.mjs)$/.exec(b.code.split('\n')[0] ?? '');
    return marker && (b.lang === 'sh' || b.lang === 'js') ? [{ ...b, name: marker[1]!.trim() }] : [];
  });
}

const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const missingTools = ['bash', 'curl', 'jq'].filter((tool) => !has(tool));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Commands still running, killed in afterAll should a test end before them. */
const running = new Set<ChildProcess>();

function kill(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Runs a command to its end (or kills it after `timeoutMs`), collecting its output. */
function run(
  command: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; onStdout?: (chunk: string) => void } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd ?? root,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so a kill reaches what npm and bash start too
    });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      opts.onStdout?.(stdout);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => kill(child), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      running.delete(child);
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let sys: TestSystem;
let queuedGateway: string;

beforeAll(async () => {
  sys = await startTestSystem();
  await seedDemoData(sys.app); // the admin (admin@example.test) and the demo events, as `npm run demo` has them
  // A second gateway that never waits for the decision, so bookTicket answers QUEUED there.
  queuedGateway = (await sys.startInstance({ ROLE: 'gateway', BOOKING_WAIT_MS: '0' })).url;
});
afterAll(async () => {
  for (const child of running) kill(child);
  await sys.stop();
});

describe('the README', () => {
  const blocks = runnableBlocks(readme);

  it('marks the walkthrough of the API as runnable, from signing up to the notification', () => {
    expect(blocks.map((b) => b.name)).toEqual(
      expect.arrayContaining([
        'sign up',
        'sign in',
        'find an event',
        'stock.mjs',
        'watch the stock',
        'book',
        'pay',
        'notifications.mjs',
        'follow notifications',
      ]),
    );
    // Every saved program is run by some shell block.
    for (const js of blocks.filter((b) => b.lang === 'js')) {
      expect(
        blocks.some((b) => b.lang === 'sh' && b.code.includes(`node ${js.name}`)),
        js.name,
      ).toBe(true);
    }
  });

  it('has GraphQL documents that are valid against schema.graphql', () => {
    const schema = buildSchema(readFileSync(join(root, 'schema.graphql'), 'utf8'));
    const documents = fencedBlocks(readme).filter((b) => b.lang === 'graphql');
    expect(documents.length).toBeGreaterThan(0);
    for (const doc of documents) {
      expect(
        validate(schema, parse(doc.code)).map((e) => e.message),
        `README.md:${doc.line}`,
      ).toEqual([]);
    }
  });

  it.skipIf(missingTools.length > 0)(
    `runs every runnable block in order, as printed, against a server${missingTools.length ? ` (skipped: ${missingTools.join(', ')} not installed)` : ''}`,
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'readme-examples-'));
      try {
        // The reader's project folder: programs saved there find graphql-ws in node_modules.
        symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
        const script = ['set -euo pipefail'];
        for (const block of blocks) {
          if (block.lang === 'js') writeFileSync(join(dir, block.name), block.code + '\n');
          else script.push(`echo '::: ${block.name}'`, block.code);
        }
        const result = await run('bash', ['-c', script.join('\n')], {
          cwd: dir,
          env: { API: sys.app.url },
          timeoutMs: 90_000,
        });
        const outputs = new Map(
          result.stdout
            .split(/^::: /m)
            .slice(1)
            .map((part) => [part.slice(0, part.indexOf('\n')), part.slice(part.indexOf('\n') + 1)] as const),
        );
        const last = [...outputs.keys()].at(-1);
        expect(result.code, `block "${last}" failed:\n${result.stdout}\n${result.stderr}`).toBe(0);
        expect(result.stdout).not.toMatch(/"errors"/);
        const output = (name: string) => outputs.get(name) ?? '';
        expect(output('sign up')).toMatch(/"role": "USER"/);
        expect(output('sign in')).toMatch(/"email": "ann@example.com"/);
        expect(output('find an event')).toMatch(/Late Night Jazz/);
        expect(output('watch the stock')).toMatch(/ticketsAvailable: \d+/);
        expect(output('register a device')).toMatch(/"registerDevice": true/);
        expect(output('book')).toMatch(/"status": "RESERVED"/);
        expect(output('pay')).toMatch(/"status": "SUCCEEDED"/);
        expect(output('follow notifications')).toMatch(/kind: 'ORDER_SUCCEEDED'/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );
});

describe('the example clients', () => {
  const admin = { ADMIN_EMAIL: 'admin@example.test', ADMIN_PASSWORD: DEMO_ADMIN_PASSWORD };

  it('an operator creates an event and watches a buyer sell it out: booked (QUEUED, then decided), paid, notified', async () => {
    let eventId: string | undefined;
    let announced: () => void = () => undefined;
    const created = new Promise<void>((resolve) => (announced = resolve));
    const operator = run('npm', ['run', '-s', 'example:operator'], {
      env: { API: sys.app.url, ...admin, TICKETS: '2', WATCH_SECONDS: '60' },
      onStdout: (out) => {
        eventId = /created event (\S+)/.exec(out)?.[1];
        if (eventId && /stock: 2 of 2 left/.test(out)) announced();
      },
    });
    await Promise.race([created, operator]);
    if (!eventId) throw new Error(`the operator ended early: ${JSON.stringify(await operator)}`);

    const buyer = await run('npm', ['run', '-s', 'example:buyer'], {
      env: { API: queuedGateway, EVENT_ID: eventId, QUANTITY: '2', BUYER_EMAIL: 'first@example.test' },
    });
    expect(buyer.code, buyer.stdout + buyer.stderr).toBe(0);
    expect(buyer.stdout).toMatch(/signed up as first@example.test/);
    expect(buyer.stdout).toMatch(/stock: 2 left \(ON_SALE\)/);
    expect(buyer.stdout).toMatch(/booking \S+: QUEUED/);
    expect(buyer.stdout).toMatch(/booking \S+: RESERVED/);
    expect(buyer.stdout).toMatch(/order \S+: PAYING/);
    expect(buyer.stdout).toMatch(/order \S+: SUCCEEDED/);
    expect(buyer.stdout).toMatch(/notification ORDER_SUCCEEDED/);
    expect(buyer.stdout).toMatch(/done: order \S+ SUCCEEDED and notified/);

    const watched = await operator;
    expect(watched.code, watched.stdout + watched.stderr).toBe(0);
    expect(watched.stdout).toMatch(/stock: 0 of 2 left \(SOLD_OUT\)/);
    expect(watched.stdout).toMatch(/sold out: 2 of 2/);
  }, 90_000);

  it('a returning buyer signs in and, without EVENT_ID, books an event that is on sale', async () => {
    const env = { API: sys.app.url, BUYER_EMAIL: 'again@example.test' };
    expect((await run('npm', ['run', '-s', 'example:buyer'], { env })).code).toBe(0);
    const again = await run('npm', ['run', '-s', 'example:buyer'], { env });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/signed in as again@example.test/);
    expect(again.stdout).toMatch(/booking \S+: RESERVED/);
    expect(again.stdout).toMatch(/notification ORDER_SUCCEEDED/);
  }, 90_000);

  it('fail with a clear message and a non-zero exit when they cannot do their job', async () => {
    const wrongPassword = await run('npm', ['run', '-s', 'example:operator'], {
      env: { API: sys.app.url, ADMIN_EMAIL: 'admin@example.test', ADMIN_PASSWORD: 'not the password' },
    });
    expect(wrongPassword.code).toBe(1);
    expect(wrongPassword.stderr).toMatch(/\[operator\] failed: UNAUTHENTICATED: Wrong e-mail or password/);

    const tooMany = await run('npm', ['run', '-s', 'example:buyer'], {
      env: { API: sys.app.url, BUYER_EMAIL: 'greedy@example.test', QUANTITY: '1000' },
    });
    expect(tooMany.code).toBe(1);
    expect(tooMany.stderr).toMatch(/\[buyer\] failed while booking: booking \S+ was REJECTED INVALID_QUANTITY/);

    const noServer = await run('npm', ['run', '-s', 'example:buyer'], { env: { API: 'http://127.0.0.1:1' } });
    expect(noServer.code).toBe(1);
    expect(noServer.stderr).toMatch(/\[buyer\] failed while signing in: cannot reach http:\/\/127.0.0.1:1\/graphql/);
  }, 60_000);
});
