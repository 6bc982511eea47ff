import type { EntityManager } from './infra/database.js';
import { UnauthenticatedError } from './errors.js';
import type { UserRole } from './entities/user.entity.js';
import type { Loaders } from './services/shared/loaders.js';

/** The signed-in caller, as read from a verified access token. */
export interface AuthUser {
  id: string;
  email: string;
  /** The role when the token was issued; ADMIN checks read the current one from Postgres. */
  role: UserRole;
  /** users.token_version when the token was issued: a later one in Postgres means it was revoked. */
  tokenVersion: number;
  /** When the token expires (epoch ms); a graphql-ws socket is closed then. */
  expiresAtMs: number;
}

/**
 * One per GraphQL operation (HTTP request or graphql-ws subscription), built the same way for both.
 * `em` is a fork of the EntityManager, so no request touches the global identity map.
 */
export interface RequestContext {
  readonly user: AuthUser | null;
  /** Where the request came from (the socket's peer, or the client named by a trusted proxy). */
  readonly clientAddress: string;
  readonly em: EntityManager;
  readonly loaders: Loaders;
}

/** The caller, for service methods that need one (resolvers mark them `@Authorized()` as well). */
export function signedIn(ctx: RequestContext): AuthUser {
  if (!ctx.user) throw new UnauthenticatedError();
  return ctx.user;
}
