import { execFile, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from './processes.js';

/**
 * A real micro-cache in front of the gateways: nginx with `proxy_cache` for one second,
 * `proxy_cache_lock on` (one request per URL goes to the origin, the others wait for its answer)
 * and `proxy_cache_use_stale updating` with a background update (while it is refreshed, the last
 * answer is served). It runs as a private process: its configuration, cache and logs in a fresh
 * temporary directory, listening on a free port of 127.0.0.1, stopped and removed by `stop()`.
 * A system nginx service is never used, started or stopped.
 */

const exec = promisify(execFile);

/** Where the OS package's files are unpacked when nginx is not installed. */
const PRIVATE_ROOT = join(homedir(), '.cache', 'flash-sale-bench', 'nginx');

let found: Promise<string> | undefined;

/**
 * The nginx binary: one on PATH (or in /usr/sbin), else the Debian package `nginx` unpacked into
 * ~/.cache/flash-sale-bench/nginx, fetched with `apt-get download` once. Not `apt-get install`:
 * the package's postinst starts the system's nginx service on port 80, which the benchmark must
 * leave alone; the binary is all it needs. Rejects with the reason when neither works.
 */
export function findNginx(log: (message: string) => void = () => undefined): Promise<string> {
  found ??= locate(log);
  return found;
}

async function locate(log: (message: string) => void): Promise<string> {
  for (const dir of [...(process.env['PATH'] ?? '').split(':'), '/usr/sbin', '/usr/local/sbin']) {
    const bin = join(dir, 'nginx');
    if (dir && existsSync(bin)) return bin;
  }
  const bin = join(PRIVATE_ROOT, 'usr', 'sbin', 'nginx');
  if (!existsSync(bin)) {
    log(`nginx is not installed: unpacking the OS package into ${PRIVATE_ROOT} (no service is installed)`);
    const work = mkdtempSync(join(tmpdir(), 'bench-nginx-deb-'));
    try {
      try {
        await exec('apt-get', ['download', 'nginx'], { cwd: work });
      } catch {
        await exec('apt-get', ['update', '-qq']); // no package lists yet
        await exec('apt-get', ['download', 'nginx'], { cwd: work });
      }
      const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
      if (!deb) throw new Error('apt-get download nginx left no .deb');
      // Unpacked beside, then moved in one step: another benchmark or test may be doing the same.
      const unpacked = join(work, 'root');
      await exec('dpkg-deb', ['-x', join(work, deb), unpacked]);
      mkdirSync(join(PRIVATE_ROOT, '..'), { recursive: true });
      if (!existsSync(bin)) renameSync(unpacked, PRIVATE_ROOT);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  await exec(bin, ['-v']); // a missing shared library fails here, with its name
  return bin;
}

export interface MicroCache {
  /** http://127.0.0.1:port */
  origin: string;
  /** nginx's master and worker processes, for CPU sampling. */
  pids(): number[];
  stop(): Promise<void>;
}

/** Starts nginx in front of `upstreams` (origins such as http://127.0.0.1:4000), balanced round robin. */
export async function startMicroCache(nginx: string, upstreams: string[]): Promise<MicroCache> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-edge-'));
  const port = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port, upstreams));
  const child = spawn(nginx, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const origin = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM'); // nginx's fast shutdown
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`nginx exited at start:\n${stderr}${errorLog(dir)}`);
      try {
        const res = await fetch(`${origin}/healthz`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`nginx did not answer within 10 s:\n${stderr}${errorLog(dir)}`);
      await sleep(50);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const pid = child.pid ?? -1;
  return { origin, pids: () => [pid, ...childrenOf(pid)], stop };
}

function errorLog(dir: string): string {
  try {
    return readFileSync(join(dir, 'error.log'), 'utf8').slice(-2000);
  } catch {
    return '';
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Every path nginx would write to is in `dir` (temp files too: their built-in places are the
 * system's). Only /graphql is cached (other paths, /healthz, pass through). Requests with an Authorization header pass through uncached both ways, as a CDN's
 * default rule has it; the answers say `private, no-store` anyway. `X-Cache-Status` tells a
 * client whether its answer came from the cache.
 */
function nginxConfig(dir: string, port: number, upstreams: string[]): string {
  const servers = upstreams.map((u) => `    server ${new URL(u).host};`).join('\n');
  // As root, nginx would switch its worker to `nobody`, which cannot write this process's directory.
  const user = process.getuid?.() === 0 ? `user ${userInfo().username};\n` : '';
  return `daemon off;
${user}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=edge:10m max_size=256m inactive=1m use_temp_path=off;
  keepalive_requests 1000000;
  upstream gateways {
${servers}
    keepalive 256;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    location / {
      proxy_pass http://gateways;
    }
    location = /graphql {
      proxy_pass http://gateways;
      # The answers' own Cache-Control says the same (max-age=1); Apollo's say no-store.
      proxy_cache edge;
      proxy_cache_valid 200 1s;
      proxy_cache_lock on;
      proxy_cache_use_stale updating error timeout http_502 http_503;
      proxy_cache_background_update on;
      proxy_cache_revalidate on;
      proxy_cache_bypass $http_authorization;
      proxy_no_cache $http_authorization;
      add_header X-Cache-Status $upstream_cache_status always;
    }
  }
}
`;
}
