import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Database, EntityManager } from './database.js';
import { isDependencyFailure } from './dependency-failure.js';
import type { HealthMonitor } from './health.js';
import { redisKeys, type Redis, type RedisKeys } from './redis.js';

/**
 * The read side of the database: a streaming replica (DATABASE_READ_URL) for reads where a little
 * staleness is harmless, chosen per read by `stale`. Anything that decides (stock, order
 * transitions, payments, idempotency, bookings, auth) never comes here: it reads the primary
 * through its own EntityManager.
 *
 * Read-your-writes by WAL position, not by a time window: after a commit that changes what users
 * read (their orders, an event they created), the writer stores the primary's WAL position (LSN)
 * per user in Redis (`wrote`). That user's reads take the replica only once it has replayed past
 * that position (`pg_last_wal_replay_lsn()`), else the primary. This is exact both ways: the
 * replica serves them again as soon as it has the write (normally within milliseconds), and never
 * before, however long it lags; a window is too long for the primary's load or too short for a lag.
 *
 * Staleness is bounded: the health probe (every second) marks the replica down while it has not
 * replayed what the primary had `maxLagMs` ago, so every read then goes to the primary. Because
 * of that bound a user's position needs keeping only a little longer (`maxLagMs` + 30 s).
 *
 * A replica that is down, too far behind, or fails a read, never fails a read: it runs again on
 * the primary, and the replica counts as down until the next probe answers. DATABASE_READ_URL must
 * name one server (not a pool of replicas behind one address), as its replay position is cached.
 */
export class DatabaseReads {
  private readonly keys: RedisKeys;
  private readonly rememberScript: (key: string, lsn: string, ttlMs: number) => Promise<unknown>;
  /** The replica's replay position as last seen (see toLsnKey); it only grows while the replica answers. */
  private replayed = '';
  /** The primary's WAL position at each probe, the newest one at least `maxLagMs` old first. */
  private readonly samples: { at: number; lsn: string }[] = [];

  constructor(
    private readonly deps: {
      primary: Database;
      /** null: DATABASE_READ_URL is unset, so every read goes to the primary. */
      replica: Database | null;
      redis: Redis;
      namespace: string;
      health: HealthMonitor;
      metrics: Metrics;
      log: Logger;
      maxLagMs: number;
    },
  ) {
    this.keys = redisKeys(deps.namespace);
    deps.redis.defineCommand('rememberWrite', { numberOfKeys: 1, lua: REMEMBER_WRITE });
    const commands = deps.redis as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    this.rememberScript = commands['rememberWrite']!.bind(deps.redis);
  }

  /**
   * Runs `read` on the replica when that is safe for `reader` (null: anonymous), else on the
   * primary. `read` must only read: after a replica failure it runs again on the primary.
   */
  async stale<T>(reader: string | null, read: (em: EntityManager) => Promise<T>): Promise<T> {
    const side = await this.sideFor(reader);
    this.deps.metrics.databaseReads.inc({ side });
    if (side !== 'replica') return read(this.deps.primary.em.fork());
    try {
      return await read(this.deps.replica!.em.fork());
    } catch (err) {
      // Whatever the replica's trouble (down, a recovery conflict), the primary answers instead; a
      // mistake in the query fails there again and is reported as such.
      if (isReplicaOutage(err)) this.replicaFailed(err);
      this.deps.metrics.databaseReads.inc({ side: 'fallback' });
      return read(this.deps.primary.em.fork());
    }
  }

  /**
   * After a commit that changed what these users read: their next reads use the replica only once
   * it has replayed this commit. Best effort: the commit stands, and if Redis cannot take the
   * position the users may see the replica's older copy until it catches up (logged).
   */
  async wrote(userIds: Iterable<string>): Promise<void> {
    if (!this.deps.replica) return;
    const users = [...new Set(userIds)];
    if (users.length === 0) return;
    try {
      // Taken after the commit returned, so it is at or past the commit record.
      const lsn = await this.primaryLsn();
      const ttlMs = this.deps.maxLagMs + KEEP_BEYOND_MAX_LAG_MS;
      await Promise.all(users.map((u) => this.rememberScript(this.keys.lastWrite(u), lsn, ttlMs)));
    } catch (err) {
      this.deps.log.warn({ err, users: users.length }, 'could not record a write for read-your-writes');
    }
  }

  /** The health probe of the replica: it answers, and it is within `maxLagMs` of the primary. */
  async probe(): Promise<void> {
    const now = Date.now();
    const [replayed, primary] = await Promise.all([
      this.replicaLsn(),
      // Without the primary the bound is checked against older samples; the replica may still serve.
      this.primaryLsn().catch(() => null),
    ]);
    if (primary) this.samples.push({ at: now, lsn: primary });
    while (this.samples.length > 1 && this.samples[1]!.at <= now - this.deps.maxLagMs) this.samples.shift();
    // The newest sample at least maxLagMs old must be replayed; until there is one (the first
    // seconds after start), the oldest: stricter then, never looser.
    const due = this.samples[0];
    if (due && due.lsn > replayed) {
      throw new Error(`the replica has not replayed what the primary had ${((now - due.at) / 1000).toFixed(1)} s ago`);
    }
  }

  private async sideFor(reader: string | null): Promise<ReadSide> {
    if (!this.deps.replica || !this.deps.health.isUp('postgres-replica')) return 'primary';
    if (reader === null) return 'replica';
    let wrote: string | null;
    try {
      wrote = await this.deps.redis.get(this.keys.lastWrite(reader));
    } catch {
      return 'primary'; // the reader's last write is unknown: only the primary surely has it
    }
    if (wrote === null || wrote <= this.replayed) return 'replica';
    try {
      await this.replicaLsn();
    } catch (err) {
      if (isReplicaOutage(err)) this.replicaFailed(err);
      return 'primary';
    }
    return wrote <= this.replayed ? 'replica' : 'own-write';
  }

  async close(): Promise<void> {
    await this.deps.replica?.close();
  }

  /**
   * The replica's replay position (a primary named as the replica: its own position). When the
   * replica cannot answer, the cached position is forgotten: a restarted standby may open at an
   * older point than it had replayed before.
   */
  private async replicaLsn(): Promise<string> {
    let row: { lsn: string | null } | undefined;
    try {
      [row] = await this.deps
        .replica!.em.fork()
        .execute<{ lsn: string | null }[]>(
          `select (case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end)::text as lsn`,
        );
    } catch (err) {
      this.replayed = '';
      throw err;
    }
    const lsn = toLsnKey(row?.lsn ?? '0/0');
    if (lsn > this.replayed) this.replayed = lsn;
    return lsn;
  }

  private async primaryLsn(): Promise<string> {
    const [row] = await this.deps.primary.em
      .fork()
      .execute<{ lsn: string }[]>(`select pg_current_wal_lsn()::text as lsn`);
    return toLsnKey(row!.lsn);
  }

  private replicaFailed(err: unknown): void {
    if (this.deps.health.isUp('postgres-replica')) {
      this.deps.log.warn({ err }, 'the read replica failed; its reads go to the primary until it answers again');
    }
    this.deps.health.reportFailure('postgres-replica', err);
    this.replayed = '';
  }
}

/** Who served a stale-tolerant read: the replica, the primary (no usable replica), or the primary for the reader's own write. */
type ReadSide = 'replica' | 'primary' | 'own-write';

/** How much longer than the lag bound a user's last write is remembered (the probe's slack, with margin). */
const KEEP_BEYOND_MAX_LAG_MS = 30_000;

/** An error of the replica itself (unreachable, shutting down, no such database), not of the query. */
function isReplicaOutage(err: unknown): boolean {
  return isDependencyFailure(err) || (err as { code?: unknown } | null)?.code === '3D000';
}

/**
 * `pg_lsn` text (`16/B374D848`) as 16 hex digits, so that positions compare as plain strings,
 * here and in Redis' Lua (which has no 64-bit integers).
 */
export function toLsnKey(lsn: string): string {
  const [hi = '0', lo = '0'] = lsn.split('/');
  return (hi.padStart(8, '0') + lo.padStart(8, '0')).toUpperCase();
}

/** KEYS[1] a user's last write; ARGV: a position (toLsnKey), ms to keep it. Never moves a position back. */
const REMEMBER_WRITE = `
local current = redis.call('get', KEYS[1])
if (not current) or current < ARGV[1] then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('pexpire', KEYS[1], ARGV[2])
end
return 1
`;
