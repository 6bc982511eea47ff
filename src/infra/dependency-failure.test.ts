import { ConnectionException, DriverException, UniqueConstraintViolationException } from '@mikro-orm/core';
import { describe, expect, it } from 'vitest';
import { isDependencyFailure } from './dependency-failure.js';

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('isDependencyFailure', () => {
  it('recognises a lost or refused connection to Postgres, Redis or NATS, also when wrapped', () => {
    expect(isDependencyFailure(new DriverException(new Error('Connection terminated unexpectedly')))).toBe(true);
    expect(isDependencyFailure(new ConnectionException(new Error('x')))).toBe(true);
    expect(isDependencyFailure(withCode('terminating connection due to administrator command', '57P01'))).toBe(true);
    expect(isDependencyFailure(withCode('canceling statement due to lock timeout', '55P03'))).toBe(true);
    expect(isDependencyFailure(new Error('wrapped', { cause: withCode('connect', 'ECONNREFUSED') }))).toBe(true);
    expect(isDependencyFailure(Object.assign(new Error('x'), { name: 'MaxRetriesPerRequestError' }))).toBe(true);
    // ioredis' commandTimeout: a reply that never came.
    expect(isDependencyFailure(new Error('Command timed out'))).toBe(true);
    expect(isDependencyFailure(new Error("Stream isn't writeable and enableOfflineQueue options is false"))).toBe(true);
  });

  it('does not excuse bugs: constraint violations, type errors and plain errors stay unexpected', () => {
    const unique = new UniqueConstraintViolationException(withCode('duplicate key', '23505'));
    expect(isDependencyFailure(unique)).toBe(false);
    expect(isDependencyFailure(new TypeError('undefined is not a function'))).toBe(false);
    expect(isDependencyFailure(withCode('invalid byte sequence', '22021'))).toBe(false);
    expect(isDependencyFailure(withCode('invalid message format', '08P01'))).toBe(false);
    expect(isDependencyFailure('a string')).toBe(false);
  });
});
