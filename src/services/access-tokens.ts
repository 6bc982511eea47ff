import { errors, jwtVerify, SignJWT } from 'jose';
import type { AuthUser } from '../context.js';
import { UserRole } from '../entities/user.entity.js';
import { UnauthenticatedError } from '../errors.js';

const ISSUER = 'flash-sale-ticketing';
const CACHE_LIMIT = 50_000;

/**
 * Signs and verifies HS256 access tokens. Verified tokens are remembered until they expire, so a
 * client hammering bookTicket costs one HMAC per token, not one per request.
 */
export class AccessTokens {
  private readonly key: Uint8Array;
  private readonly verified = new Map<string, { user: AuthUser; expiresAtMs: number }>();

  constructor(
    secret: string,
    private readonly ttlSeconds: number,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  async issue(user: AuthUser, ttlSeconds = this.ttlSeconds): Promise<string> {
    return new SignJWT({ email: user.email, role: user.role })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(user.id)
      .setIssuer(ISSUER)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(this.key);
  }

  /** The user of a valid token; UNAUTHENTICATED for a forged, malformed or expired one. */
  async verify(token: string): Promise<AuthUser> {
    const cached = this.verified.get(token);
    if (cached && cached.expiresAtMs > Date.now()) return cached.user;
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer: ISSUER, algorithms: ['HS256'] });
      const role = payload['role'];
      if (typeof payload.sub !== 'string' || typeof payload['email'] !== 'string' || !isRole(role) || !payload.exp) {
        throw new UnauthenticatedError('Access token is malformed');
      }
      const user: AuthUser = { id: payload.sub, email: payload['email'], role };
      if (this.verified.size >= CACHE_LIMIT) this.verified.clear();
      this.verified.set(token, { user, expiresAtMs: payload.exp * 1000 });
      return user;
    } catch (err) {
      if (err instanceof UnauthenticatedError) throw err;
      if (err instanceof errors.JWTExpired) throw new UnauthenticatedError('Access token has expired; sign in again');
      throw new UnauthenticatedError('Access token is invalid');
    }
  }

  /** Reads `Bearer <token>`; no header means an anonymous caller. */
  async fromAuthorizationHeader(header: unknown): Promise<AuthUser | null> {
    if (header === undefined || header === null || header === '') return null;
    if (typeof header !== 'string') throw new UnauthenticatedError('Authorization must be "Bearer <token>"');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) throw new UnauthenticatedError('Authorization must be "Bearer <token>"');
    return this.verify(match[1]);
  }
}

function isRole(value: unknown): value is UserRole {
  return value === UserRole.USER || value === UserRole.ADMIN;
}
