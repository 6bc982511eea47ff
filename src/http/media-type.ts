import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { GraphQLError } from 'graphql';
import Negotiator from 'negotiator';

/**
 * The media types of a GraphQL answer over HTTP, chosen from the request's Accept header exactly
 * as Apollo Server 5 chooses them (its `chooseContentTypeForSingleResultResponse`, which Apollo
 * does not export): the same candidates, in the same order, through the same `negotiator`. The
 * compiled fast path answers with this so that it cannot tell a client anything Apollo would not.
 */
export const MEDIA_TYPES = {
  json: 'application/json; charset=utf-8',
  graphqlResponseJson: 'application/graphql-response+json; charset=utf-8',
  /** Apollo's subscription-callback protocol; a query sent with it gets it back, as from Apollo. */
  jsonCallback: 'application/json; callbackSpec=1.0; charset=utf-8',
} as const;

/** In Apollo's order: on a tie (`*\/*`, equal q-values in any order) the first one wins. */
const CANDIDATES = [MEDIA_TYPES.json, MEDIA_TYPES.graphqlResponseJson, MEDIA_TYPES.jsonCallback];

/**
 * The media type of a single GraphQL result: `application/json` without an Accept header (or an
 * empty one), else the best match; null when the client accepts none of them (Apollo: 406).
 */
export function responseMediaType(accept: string | undefined): string | null {
  if (!accept) return MEDIA_TYPES.json;
  let chosen = negotiated.get(accept);
  if (chosen === undefined) {
    chosen = new Negotiator({ headers: { accept } }).mediaType(CANDIDATES) ?? null;
    // Clients send a handful of distinct Accept headers; a hostile one cannot grow this for good.
    if (negotiated.size >= NEGOTIATED_MAX) negotiated.clear();
    negotiated.set(accept, chosen);
  }
  return chosen;
}

/** Accept header → its answer: parsing one costs more than the sold-out answer it goes with. */
const negotiated = new Map<string, string | null>();
const NEGOTIATED_MAX = 256;

/** Apollo's wording of the 406, so that both paths refuse an Accept header the same way. */
export const NOT_ACCEPTABLE_MESSAGE =
  `An 'accept' header was provided for this request which does not accept ` +
  `${MEDIA_TYPES.json} or ${MEDIA_TYPES.graphqlResponseJson}`;

/** `application/json` with any parameters (`; charset=utf-8`) and in any letter case. */
export function isJsonContentType(contentType: string | undefined): boolean {
  return contentType?.split(';', 1)[0]?.trim().toLowerCase() === 'application/json';
}

/**
 * Apollo answers 406 only after running the operation, so a mutation sent with an Accept header
 * it cannot satisfy would take effect and be reported as refused. This stops it before it runs;
 * Apollo's own 406 still is the answer (it replaces whatever error this leaves in the result).
 */
export const refuseUnacceptableBeforeRunning: ApolloServerPlugin<BaseContext> = {
  async requestDidStart({ request }) {
    if (responseMediaType(request.http?.headers.get('accept')) !== null) return;
    return {
      async didResolveOperation() {
        throw new GraphQLError(NOT_ACCEPTABLE_MESSAGE, { extensions: { code: 'BAD_REQUEST' } });
      },
    };
  },
};
