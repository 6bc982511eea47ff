import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../bench/processes.js';

const run = promisify(execFile);
const PG_BIN = '/usr/lib/postgresql/15/bin';

/**
 * A Postgres primary and a streaming replica of it (pg_basebackup -R), from this machine's
 * Postgres 15 binaries run as the postgres OS user, with data under `dir`.
 */
export interface PostgresPair {
  primaryUrl: string;
  replicaUrl: string;
  stopReplica(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPostgresPair(dir: string): Promise<PostgresPair> {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o711); // the postgres OS user must reach its data directories
  const asPostgres = (cmd: string, args: string[]) =>
    run('runuser', ['-u', 'postgres', '--', join(PG_BIN, cmd), ...args], { cwd: '/' });
  const [primaryPort, replicaPort] = [await freePort(), await freePort()];
  const primaryDir = join(dir, 'primary');
  const replicaDir = join(dir, 'replica');
  for (const data of [primaryDir, replicaDir]) {
    mkdirSync(data, { mode: 0o700 });
    await run('chown', ['postgres:', data]);
  }
  await asPostgres('initdb', [
    '-D',
    primaryDir,
    '--auth=trust',
    '--username=postgres',
    '--encoding=UTF8',
    '--locale=C.UTF-8',
  ]);
  const start = (data: string, port: number) =>
    asPostgres('pg_ctl', [
      '-D',
      data,
      '-o',
      `-p ${port} -k ${data} -c listen_addresses=127.0.0.1 -c max_connections=300`,
      '-l',
      join(data, 'postgres.log'),
      '-w',
      '-t',
      '60',
      'start',
    ]);
  const stopOne = (data: string) =>
    asPostgres('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
  await start(primaryDir, primaryPort);
  try {
    // initdb's pg_hba.conf trusts replication connections from 127.0.0.1.
    await asPostgres('pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      String(primaryPort),
      '-U',
      'postgres',
      '-D',
      replicaDir,
      '-R',
      '-X',
      'stream',
    ]);
    await start(replicaDir, replicaPort);
  } catch (err) {
    await stopOne(primaryDir);
    throw err;
  }
  return {
    primaryUrl: `postgres://postgres@127.0.0.1:${primaryPort}/ticketing`,
    replicaUrl: `postgres://postgres@127.0.0.1:${replicaPort}/ticketing`,
    stopReplica: () => stopOne(replicaDir).then(() => undefined),
    async stop() {
      await stopOne(replicaDir);
      await stopOne(primaryDir);
    },
  };
}
