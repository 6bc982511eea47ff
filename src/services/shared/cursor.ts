import { BadInputError } from '../../errors.js';
import { isUuid } from './validation.js';

/**
 * Opaque keyset cursors: the sort key of the last row seen, base64url-encoded. Keyset (not offset)
 * paging never skips or repeats a row when rows are inserted between two pages.
 */
export function encodeCursor(kind: string, key: readonly string[]): string {
  return Buffer.from(JSON.stringify([kind, ...key])).toString('base64url');
}

/**
 * What a part of a cursor's key is. Each part is checked before it reaches SQL: a forged cursor
 * would otherwise fail there as a bad cast, an internal error instead of the client's own.
 */
export type CursorPart = 'timestamp' | 'uuid' | 'real';

/** The key of a cursor this list made, else BAD_USER_INPUT on `after`. */
export function decodeCursor(kind: string, cursor: string, parts: readonly CursorPart[]): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    // not JSON: refused below
  }
  if (
    Array.isArray(parsed) &&
    parsed[0] === kind &&
    parsed.length === parts.length + 1 &&
    parts.every((part, i) => isPart(part, parsed[i + 1]))
  ) {
    return parsed.slice(1) as string[];
  }
  throw BadInputError.field('after', 'is not a cursor of this list');
}

/** The largest page a list serves. */
export const MAX_PAGE_SIZE = 100;

// Postgres' ISO output of a timestamptz (`timestamptz::text`), e.g. `2026-06-01 12:00:00.123456+00`.
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$/;
const DECIMAL = /^-?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;
// The range of a Postgres `real` (float4): outside it the cast fails.
const REAL_MIN = 1.2e-38;
const REAL_MAX = 3.4e38;

function isPart(part: CursorPart, value: unknown): boolean {
  if (typeof value !== 'string') return false;
  switch (part) {
    case 'uuid':
      return isUuid(value);
    case 'timestamp': {
      const m = TIMESTAMP.exec(value);
      if (!m) return false;
      const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
        number,
        number,
        number,
        number,
        number,
        number,
      ];
      // A calendar date and a time of day (Postgres refuses 2026-02-30 or 25:00).
      const date = new Date(0);
      date.setUTCFullYear(year, month - 1, day); // not Date.UTC, which reads years below 100 as 19xx
      return (
        date.getUTCFullYear() === year &&
        date.getUTCMonth() === month - 1 &&
        date.getUTCDate() === day &&
        hour < 24 &&
        minute < 60 &&
        second < 60
      );
    }
    case 'real': {
      if (!DECIMAL.test(value)) return false;
      const n = Math.abs(Number(value));
      return n === 0 || (n >= REAL_MIN && n <= REAL_MAX);
    }
  }
}

/** `first` within 1..max, else BAD_USER_INPUT. */
export function pageSize(first: number, max = MAX_PAGE_SIZE): number {
  if (!Number.isInteger(first) || first < 1 || first > max) {
    throw BadInputError.field('first', `must be between 1 and ${max}`);
  }
  return first;
}

export interface Page<T> {
  items: { cursor: string; node: T }[];
  hasNextPage: boolean;
  totalCount: number;
}
