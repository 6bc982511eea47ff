import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderMap } from '@apollo/server';
import { GraphQLError } from 'graphql';
import { entityTag, matchesEntityTag } from './entity-tag.js';
import { runWithApollo, type Apollo } from './graphql-apollo.js';
import { formatError } from './graphql-errors.js';
import { graphqlAnswer, type CompiledRunner, type GraphqlAnswer, type PlainRequest } from './graphql-fast-path.js';
import type { GraphqlOptions } from './graphql-options.js';
import { MEDIA_TYPES, responseMediaType } from './media-type.js';
import { PERSISTED_DOCUMENTS } from './persisted-documents.js';

/**
 * Persisted documents over GET, as the GraphQL over HTTP spec's appendix has them:
 * `GET /graphql?documentId=sha256:<hex>&variables=<JSON>` runs a safelisted query
 * (persisted-documents.ts), so the URL is short, stable and a cache key. An anonymous answer
 * without errors may be kept by any cache for a second and served stale while one request
 * refreshes it; it carries a strong ETag, and `If-None-Match` with it is answered 304. A request
 * with an Authorization header is answered `private, no-store`, whatever it holds.
 *
 * Apollo's CSRF prevention (a preflight header on every GET) is not asked for here: only the
 * safelisted reads run, they change nothing, and their answer is the same public page for anyone
 * (a browser never adds the bearer token by itself). Everything else about the request is the
 * POST fast path's: the compiled operation, the limits, the argument guards, and Apollo's wording
 * of every error the compiled operation leaves to it.
 */

/** How long past its second a cache may serve an answer while it fetches the next one. */
export const STALE_WHILE_REVALIDATE_SECONDS = 5;
const PUBLIC = `public, max-age=1, stale-while-revalidate=${STALE_WHILE_REVALIDATE_SECONDS}`;
/** The answer depends on these (media type; public or private) and on nothing else of the request. */
const VARY = 'Accept, Authorization';
const PARAMETERS = new Set(['documentId', 'operationName', 'variables']);
/** The spec's document identifier syntax (RFC 3986 unreserved characters and `:`), of a sane length. */
const DOCUMENT_ID = /^[A-Za-z0-9\-._~:]{1,200}$/;

/** Whether a request to the GraphQL path is a persisted document request over GET. */
export function isPersistedGet(req: IncomingMessage): boolean {
  return req.method === 'GET' && new URL(req.url ?? '/', 'http://localhost').searchParams.has('documentId');
}

export function persistedGetHandler(
  opts: GraphqlOptions,
  runCompiled: CompiledRunner,
  apollo: Apollo,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const refusal = (req: IncomingMessage, status: number, error: GraphQLError): GraphqlAnswer =>
    graphqlAnswer(status, responseMediaType(req.headers.accept) ?? MEDIA_TYPES.json, {
      errors: [formatError(opts.log, opts.metrics, error.toJSON(), error)],
    });

  async function answer(req: IncomingMessage): Promise<GraphqlAnswer> {
    const params = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const request = parseParameters(params);
    if (request instanceof GraphQLError) return refusal(req, 400, request);
    const document = PERSISTED_DOCUMENTS.get(request.documentId);
    if (!document) {
      return refusal(
        req,
        404,
        new GraphQLError(`No persisted document has the id ${request.documentId}`, {
          extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' },
        }),
      );
    }
    const plain: PlainRequest = {
      query: document.query,
      operationName: request.operationName,
      variables: request.variables,
    };
    return (await runCompiled(req, plain)) ?? (await viaApollo(opts, apollo, req, plain));
  }

  return async (req, res) => {
    const a = await answer(req);
    const headers: Record<string, string> = { ...a.headers, 'content-type': a.mediaType, vary: VARY };
    if (req.headers.authorization !== undefined) headers['cache-control'] = 'private, no-store';
    else if (a.status === 200 && !a.hasErrors) {
      const etag = entityTag(a.mediaType, a.text); // strong: the same bytes in the same media type
      headers['cache-control'] = PUBLIC;
      headers['etag'] = etag;
      if (matchesEntityTag(req.headers['if-none-match'], etag)) {
        res.writeHead(304, { etag, 'cache-control': PUBLIC, vary: VARY });
        res.end();
        return;
      }
    } else headers['cache-control'] = 'no-store'; // an error, or an outage, is no page to keep
    headers['content-length'] = String(Buffer.byteLength(a.text));
    res.writeHead(a.status, headers);
    res.end(a.text);
  };
}

interface PersistedRequest {
  documentId: string;
  operationName: string | null;
  variables: Record<string, unknown> | null;
}

/** The spec's GET parameters, each at most once; any other parameter is refused (it would only split the cache). */
function parseParameters(params: URLSearchParams): PersistedRequest | GraphQLError {
  const bad = (message: string) => new GraphQLError(message, { extensions: { code: 'BAD_REQUEST' } });
  for (const key of new Set(params.keys())) {
    if (!PARAMETERS.has(key))
      return bad('A persisted document request takes only documentId, operationName and variables');
    if (params.getAll(key).length > 1) return bad(`The parameter ${key} is given more than once`);
  }
  const documentId = params.get('documentId') ?? '';
  if (!DOCUMENT_ID.test(documentId)) return bad('documentId is not a document identifier');
  let variables: unknown = null;
  const rawVariables = params.get('variables');
  if (rawVariables !== null) {
    try {
      variables = JSON.parse(rawVariables);
    } catch {
      return bad('variables is not JSON');
    }
    if (typeof variables !== 'object' || Array.isArray(variables)) return bad('variables must be a JSON object');
  }
  return {
    documentId,
    // The spec: an empty operationName is the same as none.
    operationName: params.get('operationName') || null,
    variables: variables as Record<string, unknown> | null,
  };
}

/** Apollo answers what the compiled operation did not (bad variables, over the cost limit, a bad token). */
async function viaApollo(
  opts: GraphqlOptions,
  apollo: Apollo,
  req: IncomingMessage,
  request: PlainRequest,
): Promise<GraphqlAnswer> {
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  // The document is a safelisted query: Apollo runs it as the POST it stands for.
  headers.set('content-type', 'application/json');
  const result = await runWithApollo(apollo, opts, req, { method: 'POST', headers, search: '', body: request });
  let text = '';
  if (result.body.kind === 'complete') text = result.body.string;
  else for await (const chunk of result.body.asyncIterator) text += chunk;
  const extra: Record<string, string> = {};
  for (const [key, value] of result.headers) {
    if (!['content-type', 'content-length', 'cache-control'].includes(key)) extra[key] = value;
  }
  return {
    status: result.status ?? 200,
    mediaType: result.headers.get('content-type') ?? MEDIA_TYPES.json,
    headers: extra,
    text,
    hasErrors: hasErrors(text),
  };
}

function hasErrors(text: string): boolean {
  try {
    return (JSON.parse(text) as { errors?: unknown }).errors !== undefined;
  } catch {
    return true;
  }
}
