import { describe, expect, it } from 'vitest';
import { AdmissionTokens } from './admission-token.js';

const USER = '11111111-1111-4111-8111-111111111111';
const OTHER = '22222222-2222-4222-8222-222222222222';
const EVENT = '33333333-3333-4333-8333-333333333333';
const NOW = Date.parse('2026-12-02T12:00:00Z');

describe('a signed admission', () => {
  const tokens = new AdmissionTokens('a-secret-of-at-least-thirty-two-characters');
  const token = tokens.issue(USER, EVENT, new Date(NOW + 60_000));

  it('verifies for its buyer and event until it expires', () => {
    expect(tokens.verify(token, USER, EVENT, NOW)).toBe(true);
    expect(tokens.verify(token, USER, EVENT, NOW + 60_000)).toBe(false);
  });

  it('does not verify for another buyer, another event, another key, or with any part changed', () => {
    expect(tokens.verify(token, OTHER, EVENT, NOW)).toBe(false);
    expect(tokens.verify(token, USER, OTHER, NOW)).toBe(false);
    expect(new AdmissionTokens('another-secret-of-at-least-thirty-two-chars').verify(token, USER, EVENT, NOW)).toBe(
      false,
    );
    const [u, e, until, sig] = token.split('.');
    expect(tokens.verify([u, e, String(Number(until) + 1), sig].join('.'), USER, EVENT, NOW)).toBe(false);
    expect(tokens.verify(`${token}x`, USER, EVENT, NOW)).toBe(false);
    expect(tokens.verify('', USER, EVENT, NOW)).toBe(false);
    expect(tokens.verify('x'.repeat(5000), USER, EVENT, NOW)).toBe(false);
  });
});
