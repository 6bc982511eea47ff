import type { z } from 'zod';
import { BadInputError } from '../../errors.js';

/** Parses input against a schema; on failure a BAD_USER_INPUT whose message names every bad field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => ({
    field: issue.path.join('.') || 'input',
    message: issue.message,
  }));
  return fail(problems);
}

function fail(problems: { field: string; message: string }[]): never {
  const message = problems.map((p) => `${p.field}: ${p.message}`).join('; ');
  throw new BadInputError(message, { field: problems[0]?.field, fields: problems });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

// C0 controls, DEL and C1 controls: never meant for a person to read, they forge log lines and
// terminal output, and Postgres refuses NUL in text (one such row fails its whole batch). Tab, line
// feed and carriage return are the exception in multi-line text. (Matching them is the point here.)
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_BUT_LINE_BREAKS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

/**
 * Why a text value is refused, or null when it is fine: a control character, or an unpaired
 * UTF-16 surrogate (not text: UTF-8 cannot hold it, so Postgres, Redis and NATS would each get U+FFFD
 * instead and disagree with the gateway about the value).
 */
export function textProblem(value: string, opts: { multiline?: boolean } = {}): string | null {
  if ((opts.multiline ? CONTROL_BUT_LINE_BREAKS : CONTROL).test(value)) {
    return opts.multiline
      ? 'must not contain control characters other than tab and line breaks'
      : 'must not contain control characters';
  }
  if (!value.isWellFormed()) return 'must not contain unpaired surrogates';
  return null;
}
