import type { IncomingMessage, ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';
import type { AuthUser } from '../context.js';
import { clientAddress } from './client-address.js';
import type { CompiledOperations } from './compiled-operations.js';
import { formatError } from './graphql-errors.js';
import { overCostLimit } from './graphql-limits.js';
import type { GraphqlOptions } from './graphql-options.js';
import { MEDIA_TYPES, NOT_ACCEPTABLE_MESSAGE, isJsonContentType, responseMediaType } from './media-type.js';

/**
 * The fast path: a plain request whose document is compiled runs straight on the compiled
 * operation, with the same authentication, context, limits and error formatting as the full
 * server, and the media type and status Apollo would give (see media-type.ts). Anything else (and
 * any request-level error) goes to Apollo, which answers it in the standard way. POST bodies come
 * here (compiledFastPath), and so do persisted documents over GET (graphql-persisted-get.ts).
 */

export interface PlainRequest {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
}

/** A whole GraphQL answer over HTTP, before it is written. */
export interface GraphqlAnswer {
  status: number;
  mediaType: string;
  /** Headers besides the media type (Apollo's `allow` on a 405, …). */
  headers?: Record<string, string>;
  /** The body as Apollo writes it (its `prettyJSONStringify`: a trailing newline), so the bytes are the same. */
  text: string;
  /** The result carries errors (a partial answer, or none at all). */
  hasErrors: boolean;
}

/** Runs a request on its compiled operation; null when Apollo should answer it instead. */
export type CompiledRunner = (req: IncomingMessage, request: PlainRequest) => Promise<GraphqlAnswer | null>;

export function compiledRunner(opts: GraphqlOptions, compiled: CompiledOperations): CompiledRunner {
  return async function runCompiled(req, request) {
    const prepared = compiled.prepare(request.query, request.operationName);
    const operation = prepared.compiled;
    // Over the cost limit: Apollo refuses it the same way (costLimitPlugin).
    if (!operation || overCostLimit(prepared, request.variables)) return null;
    let user: AuthUser | null;
    try {
      user = opts.authenticate(req.headers.authorization);
    } catch {
      return null; // Apollo answers 401 with the standard shape
    }
    const mediaType = responseMediaType(req.headers.accept);
    if (mediaType === null) {
      // Apollo's 406, but before running the operation: Apollo runs it first (a mutation would
      // take effect) and only then finds it cannot say the result in a type the client accepts.
      const refusal = new GraphQLError(NOT_ACCEPTABLE_MESSAGE, { extensions: { code: 'BAD_REQUEST' } });
      return graphqlAnswer(406, MEDIA_TYPES.json, {
        errors: [formatError(opts.log, opts.metrics, refusal.toJSON(), refusal)],
      });
    }
    const result = await operation.query(
      undefined,
      opts.createContext(user, clientAddress(req, opts.trustedProxies)),
      request.variables ?? {},
    );
    // Without `data` the operation did not run (e.g. bad variables): let Apollo word the error.
    if (result.data === undefined) return null;
    const payload = result.errors
      ? { errors: result.errors.map((e) => formatError(opts.log, opts.metrics, e.toJSON(), e)), data: result.data }
      : { data: result.data };
    return graphqlAnswer(200, mediaType, payload);
  };
}

/** The POST fast path: resolves true when it answered. */
export function compiledFastPath(
  run: CompiledRunner,
): (req: IncomingMessage, res: ServerResponse, body: Buffer) => Promise<boolean> {
  return async function tryCompiled(req, res, body) {
    if (!isJsonContentType(req.headers['content-type'])) return false;
    let request: unknown;
    try {
      request = JSON.parse(body.toString('utf8'));
    } catch {
      return false;
    }
    if (!isPlainRequest(request)) return false;
    const answer = await run(req, request);
    if (!answer) return false;
    writeAnswer(res, answer);
    return true;
  };
}

/** An answer of `payload` in `mediaType`. */
export function graphqlAnswer(
  status: number,
  mediaType: string,
  payload: { errors?: readonly unknown[]; data?: unknown },
): GraphqlAnswer {
  return {
    status,
    mediaType,
    text: `${JSON.stringify(payload)}\n`,
    hasErrors: payload.errors !== undefined,
  };
}

/** The POST answer: only its media type and length (the sold-out answer is written here too). */
function writeAnswer(res: ServerResponse, answer: GraphqlAnswer): void {
  res.writeHead(answer.status, { 'content-type': answer.mediaType, 'content-length': Buffer.byteLength(answer.text) });
  res.end(answer.text);
}

/** A single operation without extensions (Apollo's automatic persisted queries and the like stay with Apollo). */
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
