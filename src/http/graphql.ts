import type { IncomingMessage, ServerResponse, Server as HttpServer } from 'node:http';
import { readBody } from './body.js';
import { CompiledOperations } from './compiled-operations.js';
import { answerWithApollo, startApollo } from './graphql-apollo.js';
import { compiledFastPath, compiledRunner } from './graphql-fast-path.js';
import { LIMITS, MAX_BODY_BYTES, selfValidationRules } from './graphql-limits.js';
import type { GraphqlOptions } from './graphql-options.js';
import { isPersistedGet, persistedGetHandler } from './graphql-persisted-get.js';
import { attachGraphqlWebSocket } from './graphql-websocket.js';

/**
 * The GraphQL endpoint: three transports over one schema, one set of limits (graphql-limits.ts)
 * and one error formatter (graphql-errors.ts):
 *   - HTTP POST of a plain, compiled operation: the fast path (graphql-fast-path.ts);
 *   - HTTP GET of a persisted document (safelisted, cacheable): graphql-persisted-get.ts, on the fast path too;
 *   - any other HTTP request: Apollo (graphql-apollo.ts);
 *   - graphql-ws on the same path (graphql-websocket.ts).
 */

export interface GraphqlEndpoint {
  handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void>;
  attachWebSocket(server: HttpServer): void;
  stop(): Promise<void>;
}

export async function createGraphqlEndpoint(opts: GraphqlOptions): Promise<GraphqlEndpoint> {
  const apollo = await startApollo(opts);
  // Compiled once per document, shared by the fast path and graphql-ws.
  const compiled = new CompiledOperations(opts.schema, selfValidationRules(opts.introspection), LIMITS.maxTokens);
  const runCompiled = compiledRunner(opts, compiled);
  const tryCompiled = compiledFastPath(runCompiled);
  const answerPersisted = persistedGetHandler(opts, runCompiled, apollo);

  let wsCleanup: (() => Promise<void>) | undefined;
  // HTTP operations still running. Apollo fails every operation once it is stopped, so stop() lets
  // these finish first; one that never does is cut by the HTTP server's shutdown grace period.
  let inFlight = 0;
  let onDrained: (() => void) | undefined;

  return {
    async handleHttp(req, res) {
      inFlight += 1;
      try {
        if (isPersistedGet(req)) {
          opts.metrics.graphqlRequests.inc({ path: 'persisted' });
          await answerPersisted(req, res);
          return;
        }
        const body = req.method === 'POST' ? await readBody(req, MAX_BODY_BYTES) : undefined;
        if (body && (await tryCompiled(req, res, body))) {
          opts.metrics.graphqlRequests.inc({ path: 'compiled' });
          return;
        }
        opts.metrics.graphqlRequests.inc({ path: 'full' });
        await answerWithApollo(apollo, opts, req, res, body);
      } finally {
        inFlight -= 1;
        if (inFlight === 0) onDrained?.();
      }
    },

    attachWebSocket(server) {
      wsCleanup = attachGraphqlWebSocket(server, opts, compiled);
    },

    async stop() {
      await wsCleanup?.();
      if (inFlight > 0) await new Promise<void>((resolve) => (onDrained = resolve));
      await apollo.stop();
    },
  };
}
