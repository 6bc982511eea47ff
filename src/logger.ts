import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Structured JSON logs, on stdout unless `destination` says otherwise (tests write a file); one
 * root logger per process, children per component.
 */
export function createLogger(
  level: string,
  base: Record<string, unknown> = {},
  destination?: DestinationStream,
): Logger {
  const options = {
    level,
    base: { pid: process.pid, ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.headers.authorization', '*.password', '*.token'], censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * Why something failed, safe for a log line or a dead letter: the error's class and code (a
 * Postgres SQLSTATE, a Node system error) where it has one, otherwise its message. Never a
 * driver's detail, which can quote the values that were sent.
 */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err).slice(0, 200);
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? `${err.name} ${code}` : `${err.name}: ${err.message.slice(0, 200)}`;
}

export type { Logger };
