import type { AuthUser, RequestContext } from '../../context.js';
import { signedIn } from '../../context.js';
import type { UserRole } from '../../entities/user.entity.js';
import { AppError, UnauthenticatedError, UnavailableError } from '../../errors.js';
import type { Database } from '../../infra/database.js';
import { listenPg, type PgListener } from '../../infra/pg-listener.js';
import type { Logger } from '../../logger.js';
import type { AccessTokens } from './access-tokens.js';
import { bumpTokenVersion, recentRevocations, sessionFacts } from './user.repository.js';

/** Announced by the users triggers (see the token-version migration): `<user id>:<version>` or `<user id>:deleted`. */
const CHANNEL = 'token_version';
/** The version a deleted account's tokens are held to: none reaches it. */
const DELETED = Number.MAX_SAFE_INTEGER;
/** A revocation is kept a little beyond the longest token lifetime, for clocks that disagree. */
const KEEP_EXTRA_MS = 60_000;

interface Revocation {
  /** Tokens of the user with a lower version are revoked. */
  minVersion: number;
  /** After this every token issued before the revocation has expired anyway. */
  untilMs: number;
}

/**
 * Whether a verified token still stands: its version against the user's users.token_version.
 *
 * Two levels, because bookTicket must not pay a Postgres round trip per attempt. Every operation
 * checks the token against an in-process list of recent revocations (no I/O), fed by Postgres
 * NOTIFY from the users triggers, reloaded from `tokens_revoked_at` on start and after the
 * listener reconnects, and kept only for one token lifetime (older tokens have expired anyway).
 * Privileged operations (ADMIN ones, money-moving ones, registerDevice, signOutEverywhere) check
 * against Postgres itself (`confirm`): they already cost several round trips, and one primary-key
 * read makes a role change or a deleted account count at once, with no cache to wait out.
 */
export class SessionService {
  private readonly revoked = new Map<string, Revocation>();
  private readonly revocationListeners = new Set<(userId: string, minVersion: number) => void>();
  private listener: PgListener | undefined;

  constructor(
    private readonly deps: {
      tokens: AccessTokens;
      orm: Database;
      log: Logger;
      databaseUrl: string;
      tokenTtlSeconds: number;
    },
  ) {}

  /** Loads recent revocations and follows new ones (gateways do this at start-up). */
  async start(): Promise<void> {
    this.listener = await listenPg(
      this.deps.databaseUrl,
      CHANNEL,
      (payload) => (payload === undefined ? void this.catchUp() : this.applyNotification(payload)),
      this.deps.log,
    );
    await this.catchUp();
  }

  async stop(): Promise<void> {
    await this.listener?.close();
    this.listener = undefined;
  }

  /**
   * The caller of `Authorization: Bearer …` (null: anonymous), UNAUTHENTICATED for a token that
   * does not verify or was revoked. No I/O: this runs for every request on the hot path.
   */
  authenticate(authorization: unknown): AuthUser | null {
    const user = this.deps.tokens.fromAuthorizationHeader(authorization);
    if (user) this.assertNotRevoked(user);
    return user;
  }

  /**
   * The caller's current role, from Postgres, after checking that the token is the account's
   * current version; UNAUTHENTICATED for a revoked token or a deleted account.
   */
  async confirm(ctx: RequestContext): Promise<{ role: UserRole }> {
    const user = signedIn(ctx);
    let row: { role: UserRole; token_version: number } | null;
    try {
      row = await sessionFacts(ctx.em, user.id);
    } catch (err) {
      if (err instanceof AppError) throw err;
      this.deps.log.warn({ err }, 'could not check a session against Postgres');
      throw new UnavailableError('The session could not be checked; nothing was changed, try again shortly');
    }
    if (!row || row.token_version !== user.tokenVersion) {
      if (!row || row.token_version > user.tokenVersion) this.revoke(user.id, row ? row.token_version : DELETED);
      throw ended();
    }
    return { role: row.role };
  }

  /** Revokes every token issued to the caller so far, this one included. */
  async signOutEverywhere(ctx: RequestContext): Promise<boolean> {
    await this.confirm(ctx);
    const user = signedIn(ctx);
    const version = await bumpTokenVersion(ctx.em, user.id, user.tokenVersion);
    if (version === null) throw ended(); // another sign-out won the race: this token is revoked either way
    // At once in this process; other gateways hear it from the trigger's NOTIFY.
    this.revoke(user.id, version);
    return true;
  }

  /** UNAUTHENTICATED when the token's version was revoked (as far as this process has heard). */
  assertNotRevoked(user: AuthUser): void {
    const revocation = this.revoked.get(user.id);
    if (!revocation) return;
    if (revocation.untilMs <= Date.now()) this.revoked.delete(user.id);
    else if (user.tokenVersion < revocation.minVersion) throw ended();
  }

  /** Calls `listener` when a user's tokens below `minVersion` are revoked; returns an unsubscribe. */
  onRevoked(listener: (userId: string, minVersion: number) => void): () => void {
    this.revocationListeners.add(listener);
    return () => this.revocationListeners.delete(listener);
  }

  /** How many revocations this process holds (for tests and metrics). */
  revocationCount(): number {
    return this.revoked.size;
  }

  private revoke(userId: string, minVersion: number, revokedAtMs = Date.now()): void {
    const known = this.revoked.get(userId);
    if (known && known.minVersion >= minVersion) return;
    const untilMs = revokedAtMs + this.deps.tokenTtlSeconds * 1000 + KEEP_EXTRA_MS;
    // Re-inserted at the end, so the map stays ordered by expiry and pruning reads only its head.
    this.revoked.delete(userId);
    this.revoked.set(userId, { minVersion, untilMs });
    this.prune();
    for (const listener of this.revocationListeners) listener(userId, minVersion);
  }

  private prune(): void {
    const now = Date.now();
    for (const [userId, revocation] of this.revoked) {
      if (revocation.untilMs > now) break;
      this.revoked.delete(userId);
    }
  }

  private applyNotification(payload: string): void {
    const [userId, version] = payload.split(':');
    if (!userId || version === undefined) return;
    const minVersion = version === 'deleted' ? DELETED : Number(version);
    if (Number.isSafeInteger(minVersion)) this.revoke(userId, minVersion);
  }

  /** Reloads the revocations still in force (on start, and when notifications may have been missed). */
  private async catchUp(): Promise<void> {
    try {
      const rows = await recentRevocations(this.deps.orm.em.fork(), this.deps.tokenTtlSeconds + KEEP_EXTRA_MS / 1000);
      for (const row of rows) this.revoke(row.id, row.tokenVersion, row.revokedAtMs);
    } catch (err) {
      this.deps.log.warn({ err }, 'could not load revoked sessions from Postgres');
    }
  }
}

function ended(): UnauthenticatedError {
  return new UnauthenticatedError('This session has ended; sign in again');
}
