import { createHmac, timingSafeEqual } from 'node:crypto';
import { SignJWT } from 'jose';
import type { AuthUser } from '../../context.js';
import { UserRole } from '../../entities/user.entity.js';
import { UnauthenticatedError } from '../../errors.js';

const ISSUER = 'flash-sale-ticketing';
/** Our tokens are about 300 characters; anything much longer is refused before any work is done on it. */
export const MAX_TOKEN_LENGTH = 2048;
/** How far another process's clock may run ahead of ours when it stamps `iat`, or `nbf` may lie ahead. */
const CLOCK_SKEW_SECONDS = 30;
/** The header every token we issue carries, so a header that differs in any byte is refused. */
const HS256_HEADER = Buffer.from(JSON.stringify({ alg: 'HS256' })).toString('base64url');
/** Canonical unpadded base64url: only the alphabet, and a length that a whole number of bytes gives. */
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What a token is issued for: the account as Postgres has it now. */
export interface TokenSubject {
  id: string;
  email: string;
  role: UserRole;
  /** users.token_version now; bumping it in Postgres ends every token issued before. */
  tokenVersion: number;
}

export interface TokenCacheLimits {
  /** Most verified tokens remembered (default 100,000). */
  maxEntries?: number;
  /** Most bytes (estimated) the remembered tokens take (default 32 MiB). */
  maxBytes?: number;
}

interface CacheEntry {
  /** The whole token: only the very token that was verified is answered from the entry. */
  token: string;
  user: AuthUser;
  bytes: number;
}

/** Map, key and object overhead of one cache entry; the token, e-mail and id come on top. */
const ENTRY_OVERHEAD_BYTES = 240;

/**
 * Signs (jose) and verifies HS256 access tokens. Verified tokens are remembered until they expire,
 * so a client hammering bookTicket costs one HMAC per token, not one per request.
 *
 * Verification parses the compact form itself, strictly: exactly three parts of canonical base64url
 * (no padding, no unused bits set, no other alphabet), the one header we issue, and a bounded
 * length before anything is decoded or hashed. Two spellings of one token therefore cannot both
 * verify, and the cache (bounded in entries and bytes) holds at most one entry per token we
 * issued. It is keyed by the token's signature, which is already a hash of the token (its
 * HMAC-SHA256), and an entry answers only the exact token stored in it: a second SHA-256 of every
 * token, on every request, cost the sold-out path about a microsecond (bench/hot-path-cost.ts). The HMAC is node:crypto's: when a hot sale opens, every one
 * of a million buyers arrives with a token not seen yet, and jose's WebCrypto verify costs about
 * 75 µs a token here against 15 µs for the same HMAC done this way.
 */
export class AccessTokens {
  private readonly key: Uint8Array;
  private readonly verified = new Map<string, CacheEntry>();
  private cachedBytes = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;

  constructor(
    private readonly secret: string,
    /** The longest lifetime a token may have (`exp − iat`); also what `issue` gives by default. */
    private readonly ttlSeconds: number,
    limits: TokenCacheLimits = {},
  ) {
    this.key = new TextEncoder().encode(secret);
    this.maxEntries = limits.maxEntries ?? 100_000;
    this.maxBytes = limits.maxBytes ?? 32 * 1024 * 1024;
  }

  async issue(subject: TokenSubject, ttlSeconds = this.ttlSeconds): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ email: subject.email, role: subject.role, ver: subject.tokenVersion })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(subject.id)
      .setIssuer(ISSUER)
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSeconds)
      .sign(this.key);
  }

  /**
   * The user of a valid token; UNAUTHENTICATED for a forged, malformed, expired or not-yet-valid
   * one. Synchronous (an HMAC and a cache lookup) because every authenticated request on the hot
   * path waits on it. Whether the token was revoked since is not its business (see SessionService).
   */
  verify(token: string): AuthUser {
    if (token.length > MAX_TOKEN_LENGTH) throw new UnauthenticatedError('Access token is invalid');
    const now = Date.now();
    const cacheKey = token.slice(token.lastIndexOf('.') + 1);
    const cached = this.verified.get(cacheKey);
    // Another token with the same signature text is not this one: it is checked in full (and fails).
    if (cached && cached.token === token) {
      if (cached.user.expiresAtMs > now) return cached.user;
      this.forget(cacheKey, cached);
    }
    const user = this.check(token, now);
    this.remember(cacheKey, token, user);
    return user;
  }

  /** How much the cache of verified tokens holds (entries, estimated bytes). */
  cacheSize(): { entries: number; bytes: number } {
    return { entries: this.verified.size, bytes: this.cachedBytes };
  }

  private check(token: string, nowMs: number): AuthUser {
    const parts = token.split('.');
    if (parts.length !== 3 || !parts.every(isCanonicalBase64url))
      throw new UnauthenticatedError('Access token is invalid');
    const [header, body, signature] = parts as [string, string, string];
    // Only the header we issue: another algorithm (`none`, RS256 with our secret as a "public key"),
    // `crit`, or a re-encoding of the same JSON is refused.
    if (header !== HS256_HEADER) throw new UnauthenticatedError('Access token is invalid');
    const expected = createHmac('sha256', this.secret).update(`${header}.${body}`).digest();
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new UnauthenticatedError('Access token is invalid');
    }
    const payload = parseObject(body);
    if (!payload || payload['iss'] !== ISSUER) throw new UnauthenticatedError('Access token is invalid');
    const { sub, email, role, ver, iat, exp, nbf } = payload;
    if (
      typeof sub !== 'string' ||
      !UUID.test(sub) ||
      typeof email !== 'string' ||
      !isRole(role) ||
      !isWholeNumber(ver) ||
      !isWholeNumber(iat) ||
      !isWholeNumber(exp) ||
      (nbf !== undefined && !isWholeNumber(nbf))
    ) {
      throw new UnauthenticatedError('Access token is malformed');
    }
    const now = nowMs / 1000;
    if (exp - iat > this.ttlSeconds) throw new UnauthenticatedError('Access token lifetime is too long');
    if (iat > now + CLOCK_SKEW_SECONDS) throw new UnauthenticatedError('Access token is issued in the future');
    if (nbf !== undefined && nbf > now + CLOCK_SKEW_SECONDS) {
      throw new UnauthenticatedError('Access token is not valid yet');
    }
    if (exp <= now) throw new UnauthenticatedError('Access token has expired; sign in again');
    return { id: sub, email, role, tokenVersion: ver, expiresAtMs: exp * 1000 };
  }

  private remember(cacheKey: string, token: string, user: AuthUser): void {
    // The token and its signature are ASCII (one byte a character); the e-mail may be UTF-16.
    const bytes = ENTRY_OVERHEAD_BYTES + token.length + cacheKey.length + 2 * (user.id.length + user.email.length);
    // Insertion order is age: the oldest are forgotten first.
    for (const [oldestKey, oldest] of this.verified) {
      if (this.verified.size < this.maxEntries && this.cachedBytes + bytes <= this.maxBytes) break;
      this.forget(oldestKey, oldest);
    }
    if (bytes > this.maxBytes) return;
    const replaced = this.verified.get(cacheKey);
    if (replaced) this.forget(cacheKey, replaced);
    this.verified.set(cacheKey, { token, user, bytes });
    this.cachedBytes += bytes;
  }

  private forget(cacheKey: string, entry: CacheEntry): void {
    this.verified.delete(cacheKey);
    this.cachedBytes -= entry.bytes;
  }

  /** Reads `Bearer <token>`; no header means an anonymous caller. */
  fromAuthorizationHeader(header: unknown): AuthUser | null {
    if (header === undefined || header === null || header === '') return null;
    if (typeof header !== 'string' || header.length > MAX_TOKEN_LENGTH + 64) {
      throw new UnauthenticatedError('Authorization must be "Bearer <token>"');
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) throw new UnauthenticatedError('Authorization must be "Bearer <token>"');
    return this.verify(match[1]);
  }
}

/** Decoding and re-encoding gives the same text: no padding, no stray characters, no unused bits set. */
function isCanonicalBase64url(part: string): boolean {
  return BASE64URL.test(part) && Buffer.from(part, 'base64url').toString('base64url') === part;
}

function parseObject(part: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

function isWholeNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isRole(value: unknown): value is UserRole {
  return value === UserRole.USER || value === UserRole.ADMIN;
}
