import { describe, expect, it } from 'vitest';
import { BadInputError } from '../../errors.js';
import { decodeCursor, encodeCursor, pageSize } from './cursor.js';

const SEARCH = ['real', 'timestamp', 'uuid'] as const;
const UUID = '6b1f0c8e-0000-4000-8000-000000000001';

describe('cursors', () => {
  it('decodes what it encoded', () => {
    const key = ['0.5', '2026-06-01 12:00:00+00', '6b1f0c8e-0000-4000-8000-000000000001'];
    expect(decodeCursor('search', encodeCursor('search', key), SEARCH)).toEqual(key);
  });

  it.each([
    ['0', '2026-06-01 12:00:00.123456+00', UUID],
    ['1.0999999', '0001-01-01 00:00:00+05:30', UUID],
    ['1e-05', '2028-02-29 23:59:59-08', UUID],
  ])('accepts the key Postgres prints: %s, %s', (rank, at, id) => {
    expect(decodeCursor('search', encodeCursor('search', [rank, at, id]), SEARCH)).toEqual([rank, at, id]);
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
    ['a cursor with a part that is not a number', encodeCursor('search', ['x', '2026-06-01 12:00:00+00', UUID])],
    ['a cursor with a rank out of range', encodeCursor('search', ['1e39', '2026-06-01 12:00:00+00', UUID])],
    ['a cursor with a rank that underflows', encodeCursor('search', ['1e-50', '2026-06-01 12:00:00+00', UUID])],
    ['a cursor with a date that does not exist', encodeCursor('search', ['1', '2026-02-30 12:00:00+00', UUID])],
    ['a cursor with a time that does not exist', encodeCursor('search', ['1', '2026-02-01 24:00:00+00', UUID])],
    ['a cursor with a bad timestamp', encodeCursor('search', ['1', "2026-02-01'; drop table users", UUID])],
    ['a cursor with an id that is not a UUID', encodeCursor('search', ['1', '2026-02-01 12:00:00+00', 'x'])],
    ['a cursor with a NUL', encodeCursor('search', ['1', '2026-02-01 12:00:00+00', `${UUID}\u0000`])],
  ])('refuses %s with BAD_USER_INPUT on `after`', (_what, cursor) => {
    let error: unknown;
    try {
      decodeCursor('search', cursor, SEARCH);
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
