/**
 * Finds Debian's headless-capable Chromium for the browser tests, installing the `chromium`
 * package with apt-get when it is missing and we are root. Never downloads a browser build of its
 * own (no `playwright install`). Plain TypeScript with node: imports only, like local-services.ts.
 *
 * CLI: `node scripts/browser.ts` prints the executable's path (installing it first if needed).
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where Debian's package puts it; CHROMIUM_PATH overrides for other systems. */
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

export type ChromiumLookup = { path: string } | { path: null; reason: string };

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function found(env: Record<string, string | undefined>): string | undefined {
  const override = env['CHROMIUM_PATH'];
  if (override) return executable(override) ? override : undefined;
  return CANDIDATES.find(executable);
}

export async function ensureChromium(
  log: (msg: string) => void = () => {},
  env: Record<string, string | undefined> = process.env,
): Promise<ChromiumLookup> {
  const existing = found(env);
  if (existing) return { path: existing };
  if (env['CHROMIUM_PATH']) return { path: null, reason: `CHROMIUM_PATH=${env['CHROMIUM_PATH']} is not executable` };
  if (process.getuid?.() !== 0) return { path: null, reason: 'chromium is not installed and installing it needs root' };
  try {
    await run('apt-get', ['--version']);
  } catch {
    return { path: null, reason: 'chromium is not installed and there is no apt-get to install it' };
  }
  log('installing chromium with apt-get (once per machine)…');
  const options = { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, maxBuffer: 64 * 1024 * 1024 };
  try {
    await run('apt-get', ['update'], options);
    await run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], options);
  } catch (err) {
    return { path: null, reason: `apt-get install chromium failed: ${(err as Error).message.split('\n')[0]}` };
  }
  const installed = found(env);
  return installed
    ? { path: installed }
    : { path: null, reason: 'apt-get installed chromium but no executable was found' };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await ensureChromium((msg) => console.error(msg));
  if (result.path !== null) console.log(result.path);
  else {
    console.error(result.reason);
    process.exit(1);
  }
}
