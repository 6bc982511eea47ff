import { BadInputError } from '../errors.js';

/**
 * Opaque keyset cursors: the sort key of the last row seen, base64url-encoded. Keyset (not offset)
 * paging never skips or repeats a row when rows are inserted between two pages.
 */
export function encodeCursor(kind: string, key: readonly string[]): string {
  return Buffer.from(JSON.stringify([kind, ...key])).toString('base64url');
}

export function decodeCursor(kind: string, cursor: string, length: number): string[] {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(parsed) &&
      parsed[0] === kind &&
      parsed.length === length + 1 &&
      parsed.every((part) => typeof part === 'string')
    ) {
      return parsed.slice(1);
    }
  } catch {
    // fall through to the error below
  }
  throw BadInputError.field('after', 'is not a cursor of this list');
}

/** The largest page a list serves. */
export const MAX_PAGE_SIZE = 100;

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
