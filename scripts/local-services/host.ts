/**
 * The machine local-services.ts runs on: commands, PATH, apt-get (as root on Debian), and small
 * text helpers for its messages. Plain TypeScript with node: imports only, like local-services.ts.
 */
import { execFile } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { networkInterfaces } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

/** Where progress messages go. */
export type Log = (msg: string) => void;

const execFileAsync = promisify(execFile);

/** Runs a command to completion; the error names the command and carries its stderr. */
export async function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    // cwd '/': the postgres user may not be allowed into ours.
    const { stdout } = await execFileAsync(cmd, args, { env, cwd: '/', maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const { stderr, message } = err as { stderr?: string; message: string };
    throw new Error(`${[cmd, ...args].join(' ')} failed: ${(stderr || message).trim()}`, { cause: err });
  }
}

/**
 * Command-line tools some tests drive (the README's examples need curl and jq): installed with
 * apt-get where missing and possible (root on Debian); otherwise left out, and those tests say so.
 */
export async function ensureTools(tools: { binary: string; aptPackage: string }[], log: Log): Promise<void> {
  const missing = tools.filter((t) => !findOnPath(t.binary));
  if (missing.length === 0 || !isRoot() || !findOnPath('apt-get')) return;
  await aptInstall(
    missing.map((t) => t.aptPackage),
    missing.map((t) => t.binary).join(', '),
    log,
  );
}

export async function findOrInstall(binary: string, aptPackage: string, log: Log): Promise<string> {
  const found = findOnPath(binary);
  if (found) return found;
  await aptInstall([aptPackage], binary, log);
  const installed = findOnPath(binary);
  if (!installed) throw new Error(`apt-get installed ${aptPackage}, but ${binary} is still not on PATH`);
  return installed;
}

let aptUpdated = false;

export async function aptInstall(packages: string[], what: string, log: Log): Promise<void> {
  const list = packages.join(' ');
  if (!isRoot()) {
    throw new Error(
      `${what} is not installed. Install it (sudo apt-get install -y ${list}) or point the URL at a running server.`,
    );
  }
  if (!findOnPath('apt-get')) {
    throw new Error(`${what} is not installed and there is no apt-get here; install the ${list} package(s) yourself.`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    log('apt-get update');
    await run('apt-get', ['update'], env);
    aptUpdated = true;
  }
  log(`apt-get install -y ${list} (its services neither started nor enabled: the project runs its own)`);
  // policy-rc.d answering 101 ("action forbidden") keeps the packages' postinst scripts from
  // starting their services (invoke-rc.d and deb-systemd-invoke ask it), as Debian's Docker images do.
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy)
    writeFileSync(policy, '#!/bin/sh\n# scripts/local-services.ts, during apt-get install\nexit 101\n', {
      mode: 0o755,
    });
  try {
    await run('apt-get', ['install', '-y', '--no-install-recommends', ...packages], env);
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
  // The postinst scripts still enable them for the next boot (systemd units, SysV links): undo
  // that, so the machine is as it was. Best effort; each tool may be missing.
  for (const pkg of packages) {
    const files = (await run('dpkg', ['-L', pkg]).catch(() => '')).split('\n');
    for (const unit of files.filter((f) => /\/systemd\/system\/[^/@]+\.service$/.test(f))) {
      const name = unit.slice(unit.lastIndexOf('/') + 1);
      // Without a running systemd (a container, a chroot) systemctl fails: remove the links it would.
      await run('systemctl', ['disable', '--now', name])
        .catch(() => removeSystemdLinks(name))
        .then(
          () => log(`${name}: disabled (apt-get enables it on install)`),
          () => undefined,
        );
    }
    for (const script of files.filter((f) => /^\/etc\/init\.d\/[^/]+$/.test(f))) {
      await run('update-rc.d', [script.slice('/etc/init.d/'.length), 'disable']).catch(() => undefined);
    }
  }
}

/** What `systemctl disable` does offline: removes the unit's links from /etc/systemd/system/*.wants. */
function removeSystemdLinks(unit: string): void {
  const etc = '/etc/systemd/system';
  if (!existsSync(etc)) return;
  for (const wants of readdirSync(etc).filter((d) => d.endsWith('.wants'))) {
    const link = join(etc, wants, unit);
    if (lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink()) rmSync(link);
  }
}

export function pathDirs(): string[] {
  return (process.env.PATH ?? '').split(delimiter).filter(Boolean);
}

export function findOnPath(name: string): string | undefined {
  return pathDirs()
    .map((dir) => join(dir, name))
    .find(isExecutable);
}

export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Loopback, a wildcard, or one of this machine's interface addresses. */
export function isThisMachine(host: string): boolean {
  if (['localhost', '0.0.0.0', '::'].includes(host)) return true;
  return Object.values(networkInterfaces()).some((addresses) => addresses?.some((a) => a.address === host));
}

export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The last lines of a log file, for error messages. */
export function tail(file: string, lines = 10): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log written)';
  }
}
