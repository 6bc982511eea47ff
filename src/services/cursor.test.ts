import { describe, expect, it } from 'vitest';
import { BadInputError } from '../errors.js';
import { decodeCursor, encodeCursor, pageSize } from './cursor.js';

describe('cursors', () => {
  it('decodes what it encoded', () => {
    const key = ['0.5', '2026-06-01 12:00:00+00', '6b1f0c8e-0000-4000-8000-000000000001'];
    expect(decodeCursor('search', encodeCursor('search', key), 3)).toEqual(key);
  });

  it('is opaque and URL-safe', () => {
    const cursor = encodeCursor('upcoming', ['2026-06-01 12:00:00+00', 'a/b+c=d']);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(cursor).not.toContain('2026');
  });

  it.each([
    ['garbage', 'not a cursor'],
    ['a cursor of another list', encodeCursor('upcoming', ['a', 'b', 'c'])],
    ['a cursor with the wrong number of parts', encodeCursor('search', ['a', 'b'])],
    [
      'a cursor with a part that is not a string',
      Buffer.from(JSON.stringify(['search', 1, 'b', 'c'])).toString('base64url'),
    ],
    ['a cursor that is not an array', Buffer.from(JSON.stringify({ kind: 'search' })).toString('base64url')],
  ])('refuses %s with BAD_USER_INPUT on `after`', (_what, cursor) => {
    let error: unknown;
    try {
      decodeCursor('search', cursor, 3);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(BadInputError);
    expect((error as BadInputError).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
  });
});

describe('pageSize', () => {
  it('accepts 1 to the maximum', () => {
    expect(pageSize(1)).toBe(1);
    expect(pageSize(100)).toBe(100);
    expect(pageSize(5, 5)).toBe(5);
  });

  it.each([0, -1, 101, 2.5, Number.NaN])('refuses %s with BAD_USER_INPUT on `first`', (first) => {
    expect(() => pageSize(first)).toThrow(BadInputError);
    expect(() => pageSize(first)).toThrow(/^first: must be between 1 and 100$/);
  });
});
