import type { z } from 'zod';
import { BadInputError } from '../errors.js';

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
