import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { ErrorCode, UnavailableError } from '../errors.js';
import { isDependencyFailure } from '../infra/dependency-failure.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

/**
 * Keeps the messages of the domain's own errors and of bad requests, and masks everything else:
 * a dependency that failed is UNAVAILABLE; any other unknown error is logged with its operation
 * and reaches the client as a bare internal error. The one error formatter of all three transports.
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

/**
 * "Did you mean …?" names fields an attacker did not know; in production they are masked on
 * graphql-ws the same way graphql-armor's blockFieldSuggestion masks them on HTTP.
 */
export function hideSuggestions(message: string): string {
  return message.replace(/Did you mean ".+"\?/g, '[Suggestion hidden]').trim();
}

/** graphql-js names the token limit in its message ("Document contains more that N tokens", sic); keep it hidden. */
export function hideTokenLimit(message: string): string {
  return /\d+ tokens/.test(message) ? 'Syntax Error: Query validation error.' : message;
}
