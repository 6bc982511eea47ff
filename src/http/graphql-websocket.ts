import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { GraphQLError, execute, type ExecutionArgs } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AuthUser } from '../context.js';
import { RateLimitedError, UnauthenticatedError } from '../errors.js';
import { clientAddress } from './client-address.js';
import type { CompiledOperations } from './compiled-operations.js';
import { formatError, hideSuggestions, hideTokenLimit } from './graphql-errors.js';
import { MAX_BODY_BYTES, overCostLimit } from './graphql-limits.js';
import type { GraphqlOptions } from './graphql-options.js';
import { costLimitError } from './query-cost.js';
import { SharedSubscriptions } from './shared-subscriptions.js';
import { SocketSessions } from './socket-limits.js';

/** Subscriptions whose events are the same for every subscriber: run once per operation and variables. */
const SHARED_SUBSCRIPTION_FIELDS = new Set(['stockChanged']);

/**
 * graphql-ws on `/graphql` of `server`: sockets authenticated at connection_init and again for
 * every operation, capped per address and per user (socket-limits.ts), validated with the same
 * limits as HTTP. Returns what closes it all.
 */
export function attachGraphqlWebSocket(
  server: HttpServer,
  opts: GraphqlOptions,
  compiled: CompiledOperations,
): () => Promise<void> {
  const wss = new WebSocketServer({ server, path: '/graphql', maxPayload: MAX_BODY_BYTES });
  const sockets = new SocketSessions(opts.webSocketLimits, opts.metrics);
  // Before graphql-ws' own listener: a socket over its address's cap is closed before it is served.
  wss.on('connection', (socket, request) => void sockets.opened(socket, clientAddress(request, opts.trustedProxies)));
  const shared = new SharedSubscriptions(SHARED_SUBSCRIPTION_FIELDS);
  const stopRevocations = opts.onSessionRevoked((userId, minVersion) => sockets.revoke(userId, minVersion));
  const serverCleanup = useServer<Record<string, unknown>, { socket: WebSocket; request: IncomingMessage }>(
    {
      schema: opts.schema,
      // connection_init carries `{ authorization: "Bearer <token>" }`; a bad token closes the socket (4403),
      // a user over their cap of sockets 4429. The socket is closed again (4403) when the token expires.
      onConnect: (ctx) => {
        const authorization = authorizationParam(ctx.connectionParams);
        let user: AuthUser | null;
        try {
          user = opts.authenticate(authorization);
        } catch {
          return false;
        }
        return sockets.signedIn(ctx.extra.socket, user, authorization);
      },
      onSubscribe: (ctx, id, payload): ExecutionArgs | readonly GraphQLError[] => {
        const socket = ctx.extra.socket;
        const session = sockets.session(socket);
        if (!session) return [new UnauthenticatedError('This socket is closed')];
        // The token is checked again for every operation: it may have expired or been revoked since.
        let user = session.user;
        if (session.user) {
          const { expiresAtMs } = session.user;
          try {
            user = opts.authenticate(session.authorization);
          } catch (err) {
            sockets.endSession(socket, expiresAtMs <= Date.now() ? 'expired' : 'revoked');
            return [err instanceof GraphQLError ? err : new UnauthenticatedError()];
          }
        }
        if (!sockets.startOperation(socket, id)) {
          return [new RateLimitedError(1, 'Too many operations on this socket; complete one first')];
        }
        const prepared = compiled.prepare(payload.query, payload.operationName);
        if (prepared.failedAt === 'parse') {
          const message = hideTokenLimit(prepared.errors[0]?.message ?? 'Invalid query');
          return [new GraphQLError(message, { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })];
        }
        if (prepared.failedAt === 'validation' || !prepared.document) {
          return prepared.errors.map(
            (e) =>
              new GraphQLError(opts.production ? hideSuggestions(e.message) : e.message, {
                nodes: e.nodes,
                extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
              }),
          );
        }
        if (overCostLimit(prepared, payload.variables)) return [costLimitError()];
        return {
          schema: opts.schema,
          document: prepared.document,
          variableValues: payload.variables ?? null,
          operationName: payload.operationName ?? null,
          contextValue: opts.createContext(user, clientAddress(ctx.extra.request, opts.trustedProxies)),
        };
      },
      // Queries and mutations run compiled, as on HTTP; subscriptions on graphql's own subscribe,
      // once for all subscribers where the events are the same for everyone.
      subscribe: (args) => shared.subscribe(args),
      execute: (args) => {
        const operation = compiled.compiledFor(args.document);
        return operation
          ? operation.query(args.rootValue, args.contextValue, args.variableValues ?? {})
          : execute(args);
      },
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors
          ? { ...result, errors: result.errors.map((e) => formatError(opts.log, opts.metrics, e.toJSON(), e)) }
          : undefined,
      onError: (ctx, id, _payload, errors) => {
        sockets.endOperation(ctx.extra.socket, id);
        return errors.map((e) => formatError(opts.log, opts.metrics, e.toJSON(), e));
      },
      onComplete: (ctx, id) => sockets.endOperation(ctx.extra.socket, id),
    },
    wss,
  );
  // graphql-ws logs every socket error with its stack as an internal error, yet ws raises most
  // of them for what the client sent (a message over maxPayload, invalid UTF-8, a bad frame),
  // and closes the socket itself with the matching code. That is the client's mistake, not ours.
  wss.on('connection', (socket) => {
    socket.removeAllListeners('error');
    socket.on('error', (err: Error & { code?: string }) => {
      if (err.code?.startsWith('WS_ERR_')) {
        opts.log.debug({ code: err.code }, 'WebSocket closed: the client broke the protocol');
        return;
      }
      opts.log.error({ err }, 'WebSocket socket error');
      socket.close(1011, 'Internal server error');
    });
  });
  return async () => {
    stopRevocations();
    await serverCleanup.dispose();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  };
}

/** `authorization` from connection_init, in any letter case (GraphiQL sends `Authorization`). */
function authorizationParam(params: Record<string, unknown> | undefined): unknown {
  const key = Object.keys(params ?? {}).find((k) => k.toLowerCase() === 'authorization');
  return key ? params?.[key] : undefined;
}
