import { MikroORM, type EntityManager, type Options } from '@mikro-orm/postgresql';
import { ReflectMetadataProvider } from '@mikro-orm/decorators/legacy';
import { Migrator } from '@mikro-orm/migrations';
import pg from 'pg';
import { entities } from '../entities/index.js';
import { migrations } from '../migrations/index.js';
import type { Logger } from '../logger.js';

export type Database = MikroORM;
export type { EntityManager };

export function ormOptions(databaseUrl: string, poolMax = 20): Options {
  return {
    clientUrl: databaseUrl,
    entities,
    metadataProvider: ReflectMetadataProvider,
    extensions: [Migrator],
    forceUtcTimezone: true,
    // Discovery from the explicit list; never scan folders, so sources and dist behave alike.
    discovery: { warnWhenNoEntities: true },
    migrations: { migrationsList: migrations, snapshot: false, snapshotOnMigrate: false, silent: true },
    pool: { min: 0, max: poolMax },
    debug: false,
    allowGlobalContext: false,
  };
}

export async function openDatabase(databaseUrl: string, log: Logger, opts: { migrate: boolean }): Promise<Database> {
  await createDatabaseIfMissing(databaseUrl, log);
  const orm = await MikroORM.init(ormOptions(databaseUrl));
  if (opts.migrate) {
    const applied = await orm.migrator.up();
    if (applied.length > 0) log.info({ migrations: applied.map((m) => m.name) }, 'applied database migrations');
  }
  return orm;
}

/** Creating the database on first start makes `npm start` work on an empty server. */
export async function createDatabaseIfMissing(databaseUrl: string, log: Logger): Promise<void> {
  await onServer(databaseUrl, async (client, name) => {
    try {
      const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
      if (rowCount === 0) {
        await client.query(`create database ${quoteIdent(name)}`);
        log.info({ database: name }, 'created database');
      }
    } catch (err) {
      // Two processes starting at once may race to create it; the loser finds it there.
      if ((err as { code?: string }).code !== '42P04') throw err;
    }
  });
}

/**
 * Databases this process made with createScratchDatabase, by server and name: the only ones
 * dropDatabase drops. A name pattern would not do: nothing stops a user from naming real data `t_…`.
 */
const scratchDatabases = new Set<string>();

function scratchKey(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  return `${url.hostname}:${url.port || '5432'}/${decodeURIComponent(url.pathname.slice(1))}`;
}

/**
 * Creates the database `name` on the server `serverUrl` points at (its own database name is
 * ignored) and returns its URL. A plain CREATE DATABASE: if the name is taken, it fails and the
 * existing database is not recorded, so it can never be dropped by dropDatabase.
 */
export async function createScratchDatabase(serverUrl: string, name: string): Promise<string> {
  const url = new URL(serverUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  await onServer(url.toString(), (client) => client.query(`create database ${quoteIdent(name)}`));
  scratchDatabases.add(scratchKey(url.toString()));
  return url.toString();
}

/** Drops a database this process made with createScratchDatabase; refuses any other. */
export async function dropDatabase(databaseUrl: string): Promise<void> {
  const key = scratchKey(databaseUrl);
  if (!scratchDatabases.has(key)) {
    throw new Error(`refusing to drop database ${key}: this process did not create it with createScratchDatabase`);
  }
  await onServer(databaseUrl, (client, name) =>
    client.query(`drop database if exists ${quoteIdent(name)} with (force)`),
  );
  scratchDatabases.delete(key);
}

/** Runs `work` on the server's maintenance database, with the name of the database `databaseUrl` names. */
async function onServer(
  databaseUrl: string,
  work: (client: pg.Client, name: string) => Promise<unknown>,
): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await work(client, name);
  } finally {
    await client.end();
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
