import type { UserRole } from '../../entities/user.entity.js';
import type { EntityManager } from '../../infra/database.js';

/** The SQL statements about accounts (`users`) beyond the ORM's plain reads and inserts. */

/** The account's role and current token version, or null for a deleted account. */
export async function sessionFacts(
  em: EntityManager,
  userId: string,
): Promise<{ role: UserRole; token_version: number } | null> {
  const [row] = await em.execute<{ role: UserRole; token_version: number }[]>(
    `select role, token_version from users where id = ?`,
    [userId],
  );
  return row ?? null;
}

/**
 * Ends every token issued so far by bumping the version, only from `tokenVersion` (so of two
 * concurrent sign-outs one wins); the new version, or null when another one won.
 */
export async function bumpTokenVersion(
  em: EntityManager,
  userId: string,
  tokenVersion: number,
): Promise<number | null> {
  const [row] = await em.execute<{ token_version: number }[]>(
    `update users set token_version = token_version + 1 where id = ? and token_version = ? returning token_version`,
    [userId, tokenVersion],
  );
  return row ? row.token_version : null;
}

/** Accounts whose tokens were revoked within the last `seconds`, with when. */
export async function recentRevocations(
  em: EntityManager,
  seconds: number,
): Promise<{ id: string; tokenVersion: number; revokedAtMs: number }[]> {
  const rows = await em.execute<{ id: string; token_version: number; revoked_at_ms: string }[]>(
    `select id, token_version, (extract(epoch from tokens_revoked_at) * 1000)::bigint as revoked_at_ms
         from users where tokens_revoked_at > now() - make_interval(secs => ?)`,
    [seconds],
  );
  return rows.map((row) => ({ id: row.id, tokenVersion: row.token_version, revokedAtMs: Number(row.revoked_at_ms) }));
}

/** Which of these accounts exist. */
export async function existingUserIds(em: EntityManager, userIds: readonly string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const rows = await em.execute<{ id: string }[]>(`select id from users where id in (?)`, [[...new Set(userIds)]]);
  return new Set(rows.map((r) => r.id));
}
