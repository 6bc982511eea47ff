import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ApolloServer,
  HeaderMap,
  type ApolloServerPlugin,
  type BaseContext,
  type HTTPGraphQLRequest,
  type HTTPGraphQLResponse,
} from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { GraphQLError, OperationTypeNode } from 'graphql';
import type { AuthUser, RequestContext } from '../context.js';
import { AppError } from '../errors.js';
import { clientAddress } from './client-address.js';
import { formatError } from './graphql-errors.js';
import { LIMITS } from './graphql-limits.js';
import type { GraphqlOptions } from './graphql-options.js';
import { oneSignInOrSignUpRule } from './one-sign-in-rule.js';
import { costLimitPlugin } from './query-cost.js';
import { refuseUnacceptableBeforeRunning } from './media-type.js';

/**
 * The full GraphQL server over HTTP (Apollo): every request the compiled fast path does not take,
 * answered the standard way (GET, batching refused, CSRF prevention, 4xx shapes, …).
 */

export type Apollo = ApolloServer<RequestContext & BaseContext>;

export async function startApollo(opts: GraphqlOptions): Promise<Apollo> {
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

  const apollo: Apollo = new ApolloServer<RequestContext & BaseContext>({
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
  return apollo;
}

/** Answers one HTTP request with Apollo; `body` is the request body already read (POST), if any. */
export async function answerWithApollo(
  apollo: Apollo,
  opts: GraphqlOptions,
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer | undefined,
): Promise<void> {
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  const url = new URL(req.url ?? '/', 'http://localhost');
  const result = await runWithApollo(apollo, opts, req, {
    method: req.method ?? 'GET',
    headers,
    search: url.search,
    body: body === undefined || body.length === 0 ? undefined : parseJson(body),
  });
  res.statusCode = result.status ?? 200;
  for (const [key, value] of result.headers) res.setHeader(key, value);
  if (result.body.kind === 'complete') {
    res.end(result.body.string);
    return;
  }
  for await (const chunk of result.body.asyncIterator) res.write(chunk);
  res.end();
}

/** One request through Apollo, as `httpGraphQLRequest` says it, with `req`'s caller and address. */
export function runWithApollo(
  apollo: Apollo,
  opts: GraphqlOptions,
  req: IncomingMessage,
  httpGraphQLRequest: HTTPGraphQLRequest,
): Promise<HTTPGraphQLResponse> {
  return apollo.executeHTTPGraphQLRequest({
    httpGraphQLRequest,
    context: async () => opts.createContext(authenticateHttp(opts, req), clientAddress(req, opts.trustedProxies)),
  });
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

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    // Apollo answers 400 for a body that is not an object.
    return body.toString('utf8');
  }
}
