import { MikroORM, type EntityManager, type Options } from '@mikro-orm/postgresql';
import { ReflectMetadataProvider } from '@mikro-orm/decorators/legacy';
import { Migrator } from '@mikro-orm/migrations';
import pg from 'pg';
import { entities } from '../entities/index.js';
import { migrations } from '../migrations/index.js';
import type { Logger } from '../logger.js';
import { isDependencyFailure } from './dependency-failure.js';

export type Database = MikroORM;
export type { EntityManager };

/**
 * Bounds on how long one session may wait or stall, set on every pooled connection. A worker that
 * freezes inside a transaction (a GC pause, a stopped VM, a half-open socket) must not keep the
 * hot stock row locked: Postgres ends its session after `idleInTransactionMs`, and a batch that
 * waits longer than `lockMs` for a lock fails and is retried instead of queueing behind it.
 */
export interface SessionTimeouts {
  lockMs: number;
  idleInTransactionMs: number;
  statementMs: number;
}

function ormOptions(databaseUrl: string, timeouts: SessionTimeouts, poolMax = 20): Options {
  return {
    clientUrl: databaseUrl,
    driverOptions: {
      options: [
        `-c lock_timeout=${timeouts.lockMs}`,
        `-c idle_in_transaction_session_timeout=${timeouts.idleInTransactionMs}`,
        `-c statement_timeout=${timeouts.statementMs}`,
      ].join(' '),
    },
    onCreateConnection: releaseDeadConnectionsOnRollback,
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

/**
 * kysely (under MikroORM) hands a transaction's connection back to the pool only after its
 * `rollback` succeeds. On a connection Postgres has already ended (the idle-in-transaction timeout
 * above, a restart) the rollback fails, and the pool slot would be lost for good: enough of those
 * and every query waits forever. Such a rollback has nothing left to undo (the server ended the
 * transaction with the session), so it counts as done; the pool then drops the broken client.
 */
function releaseDeadConnectionsOnRollback(created: unknown): Promise<void> {
  // kysely's DatabaseConnection, of which only this method matters here.
  const connection = created as { executeQuery(query: { sql: string }): Promise<unknown> };
  const executeQuery = connection.executeQuery.bind(connection);
  connection.executeQuery = async (query) => {
    try {
      return await executeQuery(query);
    } catch (err) {
      if (query.sql === 'rollback' && isDependencyFailure(err)) return { rows: [] };
      throw err;
    }
  };
  return Promise.resolve();
}

export async function openDatabase(
  databaseUrl: string,
  log: Logger,
  opts: { migrate: boolean; timeouts: SessionTimeouts },
): Promise<Database> {
  await createDatabaseIfMissing(databaseUrl, log);
  const orm = await MikroORM.init(ormOptions(databaseUrl, opts.timeouts));
  if (opts.migrate) {
    const applied = await orm.migrator.up();
    if (applied.length > 0) log.info({ migrations: applied.map((m) => m.name) }, 'applied database migrations');
  }
  return orm;
}

/**
 * How long a connection to the replica may take. A replica gone from the network must fail a read
 * quickly, so that the read moves to the primary (see DatabaseReads) instead of waiting on it.
 */
const REPLICA_CONNECT_TIMEOUT_MS = 1000;

/**
 * The read replica's pool: the same entities and session bounds, no database creation and no
 * migrations (a standby takes neither; both come from the primary by replication). It connects on
 * first use, so a replica that is down does not stop the process from starting. A frozen replica
 * cannot enforce its own statement timeout, so the client enforces it too.
 */
export async function openReadReplica(replicaUrl: string, timeouts: SessionTimeouts): Promise<Database> {
  const options = ormOptions(replicaUrl, timeouts);
  return MikroORM.init({
    ...options,
    driverOptions: {
      ...(options.driverOptions as object),
      connectionTimeoutMillis: REPLICA_CONNECT_TIMEOUT_MS,
      query_timeout: timeouts.statementMs,
    },
  });
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

/**
 * Postgres refused the statement for what it carries, not because it is unavailable: a data
 * exception (SQLSTATE class 22), an integrity constraint (23), a size limit (54), or a protocol
 * violation (08P01, which is how a NUL byte in a text parameter is answered). The same data is
 * refused on every try, so retrying it cannot help.
 */
export function isRefusedData(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || code.length !== 5) return false;
  return code === '08P01' || ['22', '23', '54'].includes(code.slice(0, 2));
}

/** One multi-row `insert` with positional parameters; `rows` all have the same columns. */
export async function insertRows(em: EntityManager, table: string, rows: Record<string, unknown>[]): Promise<void> {
  const columns = Object.keys(rows[0]!);
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  await em.execute(
    `insert into ${table} (${columns.join(', ')}) values ${rows.map(() => tuple).join(', ')}`,
    rows.flatMap((row) => columns.map((c) => row[c])),
  );
}

/** Postgres' clock: time decisions (is a hold over?) are taken by it, never by a worker's. */
export async function databaseNow(orm: Database): Promise<Date> {
  const [row] = await orm.em.fork().execute<{ now: Date }[]>(`select now() as now`);
  return new Date(row!.now);
}
