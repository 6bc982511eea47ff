import type { IncomingMessage, ServerResponse, Server as HttpServer } from 'node:http';
import { ApolloServer, HeaderMap, type ApolloServerPlugin, type BaseContext } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import {
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  OperationTypeNode,
  execute,
  specifiedRules,
  type ExecutionArgs,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type ValidationRule,
} from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AuthUser, RequestContext } from '../context.js';
import type { SubscriptionContext } from '../services/live-feeds.js';
import { AppError, ErrorCode, RateLimitedError, UnauthenticatedError, UnavailableError } from '../errors.js';
import { isDependencyFailure } from '../infra/dependency-failure.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { readBody } from './body.js';
import { clientAddress } from './client-address.js';
import { CompiledOperations, type PreparedOperation } from './compiled-operations.js';
import { oneSignInOrSignUpRule } from './one-sign-in-rule.js';
import { costLimitError, costLimitPlugin, queryCost, type Variables } from './query-cost.js';
import { SocketSessions, type SocketLimits } from './socket-limits.js';
import {
  MEDIA_TYPES,
  NOT_ACCEPTABLE_MESSAGE,
  isJsonContentType,
  refuseUnacceptableBeforeRunning,
  responseMediaType,
} from './media-type.js';

/**
 * Query limits, the same on HTTP and graphql-ws; clients are told a limit was hit, not what it is.
 * The cost (query-cost.ts) admits one full page (100) of any list with its usual fields (about
 * 6,300), not two.
 */
const LIMITS = { maxDepth: 10, maxAliases: 15, maxCost: 10_000, maxTokens: 2000, maxDirectives: 20 } as const;
const MAX_BODY_BYTES = 100 * 1024;

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

export interface GraphqlEndpoint {
  handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void>;
  attachWebSocket(server: HttpServer): void;
  stop(): Promise<void>;
}

/**
 * Keeps the messages of the domain's own errors and of bad requests, and masks everything else:
 * a dependency that failed is UNAVAILABLE; any other unknown error is logged with its operation
 * and reaches the client as a bare internal error.
 */
export function formatError(
  log: Logger,
  metrics: Metrics,
  formatted: GraphQLFormattedError,
  error: unknown,
): GraphQLFormattedError {
  const original = error instanceof GraphQLError ? error.originalError : error;
  // A thrown exception that is not a GraphQLError is a bug or an outage, never meant for clients.
  const unexpected = original !== undefined && original !== null && !(original instanceof GraphQLError);
  if (!unexpected) {
    const { stacktrace: _stacktrace, ...extensions } = formatted.extensions ?? {};
    const code = extensions['code'];
    metrics.graphqlErrors.inc({ code: typeof code === 'string' ? code : 'GRAPHQL_VALIDATION_FAILED' });
    const message = code === 'GRAPHQL_PARSE_FAILED' ? hideTokenLimit(formatted.message) : formatted.message;
    return { ...formatted, message, extensions };
  }
  if (isDependencyFailure(original)) {
    // An outage, not a bug: one short line per error (no stack) and the contract's UNAVAILABLE.
    metrics.graphqlErrors.inc({ code: ErrorCode.UNAVAILABLE });
    log.warn({ path: formatted.path, cause: (original as Error).message }, 'a dependency failed during an operation');
    return {
      message: new UnavailableError().message,
      path: formatted.path,
      extensions: { code: ErrorCode.UNAVAILABLE },
    };
  }
  metrics.graphqlErrors.inc({ code: 'INTERNAL_SERVER_ERROR' });
  log.error({ err: original, path: formatted.path }, 'unexpected error in a GraphQL operation');
  return { message: 'Internal server error', path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
}

export async function createGraphqlEndpoint(opts: GraphqlOptions): Promise<GraphqlEndpoint> {
  const armor = new ApolloArmor({
    maxDepth: { n: LIMITS.maxDepth, exposeLimits: false },
    maxAliases: { n: LIMITS.maxAliases, exposeLimits: false },
    // Not armor's cost rule: it counts only literal page sizes. The cost is checked with the
    // request's variables instead (query-cost.ts), by costLimitPlugin here.
    costLimit: { enabled: false },
    // Not armor's token plugin: it throws from Apollo's request pipeline, which turned every syntax
    // error into a 500. graphql-js' own parser enforces the limit (parseOptions below) and Apollo
    // answers 400 GRAPHQL_PARSE_FAILED; formatError hides the number.
    maxTokens: { enabled: false },
    maxDirectives: { n: LIMITS.maxDirectives, exposeLimits: false },
    blockFieldSuggestion: { enabled: opts.production },
  }).protect();
  // graphql-armor is typed against Apollo's CommonJS build; the plugin objects are the same.
  const armorPlugins = armor.plugins as unknown as ApolloServerPlugin<RequestContext>[];

  const apollo = new ApolloServer<RequestContext & BaseContext>({
    schema: opts.schema,
    // No landing page: Apollo's loads scripts from a CDN and names the server version (GraphiQL is ours, local).
    plugins: [
      ...armorPlugins,
      costLimitPlugin(opts.schema, LIMITS.maxCost),
      refuseUnacceptableBeforeRunning,
      subscriptionsOverWebSocketOnly,
      ApolloServerPluginLandingPageDisabled(),
    ],
    validationRules: [...armor.validationRules, oneSignInOrSignUpRule],
    allowBatchedHttpRequests: false,
    parseOptions: { maxTokens: LIMITS.maxTokens },
    introspection: opts.introspection,
    includeStacktraceInErrorResponses: false,
    csrfPrevention: true,
    // The app owns shutdown (it drains HTTP first). Apollo's own SIGINT/SIGTERM handler would stop
    // Apollo under in-flight requests and then re-send the signal, which main.ts reads as a second
    // Ctrl-C and exits at once.
    stopOnTerminationSignals: false,
    formatError: (formatted, error) => formatError(opts.log, opts.metrics, formatted, error),
  });
  await apollo.start();

  // The same rules as Apollo applies, for the paths that validate themselves (graphql-ws, compiled operations).
  const rules: ValidationRule[] = [
    ...specifiedRules,
    maxDepthRule({ n: LIMITS.maxDepth, exposeLimits: false }),
    maxAliasesRule({ n: LIMITS.maxAliases, exposeLimits: false }),
    maxDirectivesRule({ n: LIMITS.maxDirectives, exposeLimits: false }),
    oneSignInOrSignUpRule,
    ...(opts.introspection ? [] : [NoSchemaIntrospectionCustomRule]),
  ];
  const compiled = new CompiledOperations(opts.schema, rules, LIMITS.maxTokens);

  /**
   * The fast path for POST: a plain JSON request whose document is compiled runs straight on the
   * compiled operation, with the same authentication, context, limits and error formatting as the
   * full server, and the media type and status Apollo would give (see media-type.ts). Anything
   * else (and any request-level error) goes to Apollo, which answers it in the standard way.
   * Returns true when it answered.
   */
  async function tryCompiled(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<boolean> {
    if (!isJsonContentType(req.headers['content-type'])) return false;
    let request: unknown;
    try {
      request = JSON.parse(body.toString('utf8'));
    } catch {
      return false;
    }
    if (!isPlainRequest(request)) return false;
    const prepared = compiled.prepare(request.query, request.operationName);
    const operation = prepared.compiled;
    // Over the cost limit: Apollo refuses it the same way (costLimitPlugin).
    if (!operation || overCostLimit(prepared, request.variables)) return false;
    let user: AuthUser | null;
    try {
      user = opts.authenticate(req.headers.authorization);
    } catch {
      return false; // Apollo answers 401 with the standard shape
    }
    const mediaType = responseMediaType(req.headers.accept);
    if (mediaType === null) {
      // Apollo's 406, but before running the operation: Apollo runs it first (a mutation would
      // take effect) and only then finds it cannot say the result in a type the client accepts.
      const refusal = new GraphQLError(NOT_ACCEPTABLE_MESSAGE, { extensions: { code: 'BAD_REQUEST' } });
      sendGraphqlResult(res, 406, MEDIA_TYPES.json, {
        errors: [formatError(opts.log, opts.metrics, refusal.toJSON(), refusal)],
      });
      return true;
    }
    const result = await operation.query(
      undefined,
      opts.createContext(user, clientAddress(req, opts.trustedProxies)),
      request.variables ?? {},
    );
    // Without `data` the operation did not run (e.g. bad variables): let Apollo word the error.
    if (result.data === undefined) return false;
    const payload = result.errors
      ? { errors: result.errors.map((e) => formatError(opts.log, opts.metrics, e.toJSON(), e)), data: result.data }
      : { data: result.data };
    sendGraphqlResult(res, 200, mediaType, payload);
    return true;
  }

  let wsCleanup: (() => Promise<void>) | undefined;
  // HTTP operations still running. Apollo fails every operation once it is stopped, so stop() lets
  // these finish first; one that never does is cut by the HTTP server's shutdown grace period.
  let inFlight = 0;
  let onDrained: (() => void) | undefined;

  return {
    async handleHttp(req, res) {
      inFlight += 1;
      try {
        const body = req.method === 'POST' ? await readBody(req, MAX_BODY_BYTES) : undefined;
        if (body && (await tryCompiled(req, res, body))) {
          opts.metrics.graphqlRequests.inc({ path: 'compiled' });
          return;
        }
        opts.metrics.graphqlRequests.inc({ path: 'full' });
        const headers = new HeaderMap();
        for (const [key, value] of Object.entries(req.headers)) {
          if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
        }
        const url = new URL(req.url ?? '/', 'http://localhost');
        const result = await apollo.executeHTTPGraphQLRequest({
          httpGraphQLRequest: {
            method: req.method ?? 'GET',
            headers,
            search: url.search,
            body: body === undefined || body.length === 0 ? undefined : parseJson(body),
          },
          context: async () => opts.createContext(authenticateHttp(opts, req), clientAddress(req, opts.trustedProxies)),
        });
        res.statusCode = result.status ?? 200;
        for (const [key, value] of result.headers) res.setHeader(key, value);
        if (result.body.kind === 'complete') {
          res.end(result.body.string);
          return;
        }
        for await (const chunk of result.body.asyncIterator) res.write(chunk);
        res.end();
      } finally {
        inFlight -= 1;
        if (inFlight === 0) onDrained?.();
      }
    },

    attachWebSocket(server) {
      const wss = new WebSocketServer({ server, path: '/graphql', maxPayload: MAX_BODY_BYTES });
      const sockets = new SocketSessions(opts.webSocketLimits, opts.metrics);
      // Before graphql-ws' own listener: a socket over its address's cap is closed before it is served.
      wss.on(
        'connection',
        (socket, request) => void sockets.opened(socket, clientAddress(request, opts.trustedProxies)),
      );
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
          // Queries and mutations run compiled, as on HTTP; subscriptions on graphql's own subscribe.
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
      wsCleanup = async () => {
        stopRevocations();
        await serverCleanup.dispose();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      };
    },

    async stop() {
      await wsCleanup?.();
      if (inFlight > 0) await new Promise<void>((resolve) => (onDrained = resolve));
      await apollo.stop();
    },
  };
}

/** The cost check of the paths that validate themselves; the formula was built once per document. */
function overCostLimit(prepared: PreparedOperation, variables: Variables): boolean {
  return prepared.cost !== null && queryCost(prepared.cost, variables) > LIMITS.maxCost;
}

/** As Apollo writes a result (its `prettyJSONStringify`: a trailing newline), so the bytes are the same. */
function sendGraphqlResult(res: ServerResponse, status: number, mediaType: string, payload: unknown): void {
  const text = `${JSON.stringify(payload)}\n`;
  res.writeHead(status, { 'content-type': mediaType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * graphql-js would execute a subscription sent over HTTP like a query: its resolvers would run with
 * no event to resolve (an internal error). The compiled path never takes one, so this covers HTTP.
 */
const subscriptionsOverWebSocketOnly: ApolloServerPlugin<RequestContext> = {
  requestDidStart: async () => ({
    didResolveOperation: async ({ operation }) => {
      if (operation?.operation === OperationTypeNode.SUBSCRIPTION) {
        throw new GraphQLError('Subscriptions run over WebSocket (graphql-ws), not HTTP', {
          extensions: { code: ApolloServerErrorCode.BAD_REQUEST, http: { status: 400 } },
        });
      }
    },
  }),
};

function authenticateHttp(opts: GraphqlOptions, req: IncomingMessage): AuthUser | null {
  try {
    return opts.authenticate(req.headers.authorization);
  } catch (err) {
    // A token that does not verify is refused outright (HTTP 401), even for browsing:
    // the client should know its session is gone rather than silently become anonymous.
    if (err instanceof AppError) {
      throw new GraphQLError(err.message, { extensions: { code: err.code, http: { status: 401 } } });
    }
    throw err;
  }
}

interface PlainRequest {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
}

/** A single operation without extensions (persisted queries and the like stay with Apollo). */
function isPlainRequest(value: unknown): value is PlainRequest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r['query'] === 'string' &&
    r['extensions'] === undefined &&
    (r['operationName'] === undefined || r['operationName'] === null || typeof r['operationName'] === 'string') &&
    (r['variables'] === undefined ||
      r['variables'] === null ||
      (typeof r['variables'] === 'object' && !Array.isArray(r['variables'])))
  );
}

/** `authorization` from connection_init, in any letter case (GraphiQL sends `Authorization`). */
function authorizationParam(params: Record<string, unknown> | undefined): unknown {
  const key = Object.keys(params ?? {}).find((k) => k.toLowerCase() === 'authorization');
  return key ? params?.[key] : undefined;
}

/**
 * "Did you mean …?" names fields an attacker did not know; in production they are masked on
 * graphql-ws the same way graphql-armor's blockFieldSuggestion masks them on HTTP.
 */
function hideSuggestions(message: string): string {
  return message.replace(/Did you mean ".+"\?/g, '[Suggestion hidden]').trim();
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    // Apollo answers 400 for a body that is not an object.
    return body.toString('utf8');
  }
}

/** graphql-js names the token limit in its message ("Document contains more that N tokens", sic); keep it hidden. */
function hideTokenLimit(message: string): string {
  return /\d+ tokens/.test(message) ? 'Syntax Error: Query validation error.' : message;
}
