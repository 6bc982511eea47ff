import { ConnectionException, LockWaitTimeoutException } from '@mikro-orm/core';

/**
 * Whether an error means a dependency (Postgres, Redis, NATS) could not be reached or gave up on
 * us, as opposed to a bug. Such errors reach clients as UNAVAILABLE: nothing was decided, try
 * again. Drivers wrap their errors (MikroORM keeps the pg error as `cause`), so the chain is walked.
 */
export function isDependencyFailure(error: unknown): boolean {
  for (let err = error, depth = 0; err instanceof Error && depth < 5; err = err.cause, depth += 1) {
    if (err instanceof ConnectionException || err instanceof LockWaitTimeoutException) return true;
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && (SQLSTATE_UNAVAILABLE.test(code) || SOCKET_CODES.has(code))) return true;
    if (DRIVER_NAMES.has(err.name) || DRIVER_MESSAGES.test(err.message)) return true;
  }
  return false;
}

/**
 * SQLSTATE classes 08 (connection), 53 (insufficient resources), 57 (operator intervention:
 * shutdown, statement timeout) and 55P03 (lock timeout). Not 08P01: a protocol violation is how
 * Postgres refuses a NUL byte in a parameter, bad data rather than an outage (see isRefusedData).
 */
const SQLSTATE_UNAVAILABLE = /^(08(?!P01)...|53...|57...|55P03)$/;
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH']);
/** ioredis' and nats.js' error classes for a connection that is gone or a request that timed out. */
const DRIVER_NAMES = new Set([
  'MaxRetriesPerRequestError',
  'ClusterAllFailedError',
  'ClosedConnectionError',
  'ConnectionError',
  'TimeoutError',
  'NoRespondersError',
  'DrainingConnectionError',
]);
/** What pg and ioredis say when the socket went away mid-query or a reply never came (they carry no code). */
const DRIVER_MESSAGES =
  /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect|Connection is closed|Stream isn't writeable|Command timed out)/;
