import { GraphQLError } from 'graphql';

/**
 * Exceptional failures, one class per `extensions.code` of the public contract (docs/contract.md).
 * Expected outcomes of the domain (sold out, limit reached) are values in the schema instead.
 */

export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  RATE_LIMITED: 'RATE_LIMITED',
  UNAVAILABLE: 'UNAVAILABLE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export abstract class AppError extends GraphQLError {
  abstract readonly code: ErrorCode;
  constructor(message: string, extensions: Record<string, unknown> = {}) {
    super(message, { extensions });
  }
}

function errorClass<C extends ErrorCode>(code: C, defaultMessage: string) {
  return class extends AppError {
    readonly code = code;
    constructor(message = defaultMessage, extensions: Record<string, unknown> = {}) {
      super(message, { ...extensions, code });
    }
  };
}

export class UnauthenticatedError extends errorClass(ErrorCode.UNAUTHENTICATED, 'Sign in first') {}
export class ForbiddenError extends errorClass(ErrorCode.FORBIDDEN, 'Not allowed') {}
export class NotFoundError extends errorClass(ErrorCode.NOT_FOUND, 'Not found') {}
export class ConflictError extends errorClass(ErrorCode.CONFLICT, 'Conflict') {}
/** Too many attempts; `extensions.retryAfterSeconds` says when to try again (a whole number, at least 1). */
export class RateLimitedError extends errorClass(ErrorCode.RATE_LIMITED, 'Too many requests, slow down') {
  constructor(
    readonly retryAfterSeconds: number,
    message?: string,
  ) {
    super(message, { retryAfterSeconds });
  }
}
export class UnavailableError extends errorClass(
  ErrorCode.UNAVAILABLE,
  'A dependency is unavailable; nothing was changed, try again shortly',
) {}

/** Invalid input; `field` names the argument that was wrong so clients can point at it. */
export class BadInputError extends errorClass(ErrorCode.BAD_USER_INPUT, 'Invalid input') {
  static field(field: string, message: string): BadInputError {
    return new BadInputError(`${field}: ${message}`, { field });
  }
}

/**
 * Not part of the API: the process cannot start because of something the operator must fix (a
 * dependency that answers but cannot serve). Entry points print its message alone, no stack.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}
