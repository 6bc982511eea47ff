import type { GraphQLSchema } from 'graphql';
import type { AuthUser } from '../context.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { SubscriptionContext } from '../services/live-feeds.js';
import type { SocketLimits } from './socket-limits.js';

/** What the GraphQL endpoint (graphql.ts) and each of its transports are given by the app. */
export interface GraphqlOptions {
  schema: GraphQLSchema;
  log: Logger;
  metrics: Metrics;
  production: boolean;
  introspection: boolean;
  /** Proxies whose X-Forwarded-For names the client (see clientAddress). */
  trustedProxies: ReadonlySet<string>;
  /** Verifies `Authorization: Bearer …` (and that it was not revoked); null for an anonymous caller, throws UNAUTHENTICATED. */
  authenticate(authorization: unknown): AuthUser | null;
  /** Caps on graphql-ws sockets and operations. */
  webSocketLimits: SocketLimits;
  /** Calls back when a user's tokens older than `minVersion` are revoked (their sockets are closed); returns an unsubscribe. */
  onSessionRevoked(listener: (userId: string, minVersion: number) => void): () => void;
  createContext(user: AuthUser | null, clientAddress: string): SubscriptionContext;
}
