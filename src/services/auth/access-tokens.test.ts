import { createHmac } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { AccessTokens } from './access-tokens.js';

const SECRET = 's'.repeat(48);
const TTL = 3600;
const tokens = new AccessTokens(SECRET, TTL);
const user = { id: '11111111-1111-4111-8111-111111111111', email: 'a@example.test', role: 'USER' as const };
const claims = { ...user, tokenVersion: 0 };
const key = new TextEncoder().encode(SECRET);
const now = () => Math.floor(Date.now() / 1000);

/** A token with exactly these claims, signed with the secret (what a holder of the secret could mint). */
function mint(payload: Record<string, unknown>): string {
  const header = Buffer.from(JSON.stringify({ alg: 'HS256' })).toString('base64url');
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const signature = createHmac('sha256', SECRET).update(`${header}.${body}`).digest('base64url');
  return `${header}.${body}.${signature}`;
}

function validClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const t = now();
  return {
    sub: user.id,
    email: user.email,
    role: 'USER',
    ver: 0,
    iss: 'flash-sale-ticketing',
    iat: t,
    exp: t + 60,
    ...overrides,
  };
}

describe('AccessTokens', () => {
  it('verifies what it issued, with its version and expiry, and answers from its cache afterwards', async () => {
    const token = await tokens.issue(claims);
    const verified = tokens.verify(token);
    expect(verified).toMatchObject({ ...user, tokenVersion: 0 });
    expect(verified.expiresAtMs).toBeGreaterThan(Date.now());
    expect(tokens.verify(token)).toEqual(verified);
    expect(tokens.verify(mint(validClaims()))).toMatchObject(user);
  });

  it('refuses a token whose payload was changed after signing', async () => {
    const [h, , s] = (await tokens.issue(claims)).split('.');
    const forgedPayload = Buffer.from(JSON.stringify(validClaims({ role: 'ADMIN' }))).toString('base64url');
    expect(() => tokens.verify(`${h}.${forgedPayload}.${s}`)).toThrow('invalid');
  });

  it('refuses a changed payload under the signature of a token it has cached, and keeps that entry', async () => {
    const fresh = new AccessTokens(SECRET, TTL);
    const token = await fresh.issue(claims);
    fresh.verify(token); // cached under its signature
    const [h, , s] = token.split('.');
    const forgedPayload = Buffer.from(JSON.stringify(validClaims({ role: 'ADMIN' }))).toString('base64url');
    expect(() => fresh.verify(`${h}.${forgedPayload}.${s}`)).toThrow('invalid');
    expect(fresh.cacheSize().entries).toBe(1);
    expect(fresh.verify(token)).toMatchObject({ ...user, role: 'USER' });
  });

  it('refuses other algorithms, other issuers and expired tokens, even when signed with the secret', async () => {
    const hs512 = await new SignJWT({ email: user.email, role: 'USER', ver: 0 })
      .setProtectedHeader({ alg: 'HS512' })
      .setSubject(user.id)
      .setIssuer('flash-sale-ticketing')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(key);
    const otherIssuer = mint(validClaims({ iss: 'someone-else' }));
    const expired = await tokens.issue(claims, -1);
    expect(() => tokens.verify(hs512)).toThrow('invalid');
    expect(() => tokens.verify(otherIssuer)).toThrow('invalid');
    expect(() => tokens.verify(expired)).toThrow('expired');
    expect(() => tokens.verify('a.b')).toThrow('invalid');
  });

  it('refuses every non-canonical base64url spelling of a valid token, and caches none of them', async () => {
    const fresh = new AccessTokens(SECRET, TTL);
    const token = await fresh.issue(claims);
    fresh.verify(token);
    const [h, p, s] = token.split('.') as [string, string, string];
    // A 32-byte signature is 43 characters: its last one carries 2 unused bits, so 3 other letters decode the same.
    const last = s.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sameBytes = [...alphabet].filter(
      (c) => c !== last && Buffer.from(s.slice(0, -1) + c, 'base64url').equals(Buffer.from(s, 'base64url')),
    );
    expect(sameBytes).toHaveLength(3);
    const variants = [
      ...sameBytes.map((c) => `${h}.${p}.${s.slice(0, -1)}${c}`),
      `${h}.${p}.${s}=`, // padding
      `${h}.${p}.${Buffer.from(s, 'base64url').toString('base64')}`, // standard base64 alphabet
      `${h}.${p}.${s.slice(0, 20)}\n${s.slice(20)}`, // whitespace Buffer would skip
      `${h}.${p}.${s}.`, // a fourth part
      `${h}=.${p}.${s}`,
      ` ${token}`,
    ];
    for (const variant of variants) expect(() => fresh.verify(variant), variant).toThrow('invalid');
    expect(fresh.cacheSize().entries).toBe(1);
  });

  it('refuses an oversized token before decoding or hashing it', () => {
    const huge = mint(validClaims({ padding: 'x'.repeat(20_000) }));
    expect(() => tokens.verify(huge)).toThrow('invalid');
  });

  it('refuses a lifetime longer than the configured one, an issue time in the future and a future nbf', () => {
    const t = now();
    expect(() => tokens.verify(mint(validClaims({ exp: t + 300 * 365 * 86400 })))).toThrow('lifetime');
    expect(() => tokens.verify(mint(validClaims({ iat: t + 3600, exp: t + 3660 })))).toThrow('issued');
    expect(() => tokens.verify(mint(validClaims({ nbf: t + 600 })))).toThrow('not valid yet');
    expect(() => tokens.verify(mint(validClaims({ iat: undefined })))).toThrow('malformed');
    expect(() => tokens.verify(mint(validClaims({ ver: undefined })))).toThrow('malformed');
    expect(() => tokens.verify(mint(validClaims({ ver: -1 })))).toThrow('malformed');
    expect(tokens.verify(mint(validClaims({ nbf: t - 5 })))).toMatchObject(user);
  });

  it('keeps its cache of verified tokens bounded in entries', async () => {
    const small = new AccessTokens(SECRET, TTL, { maxEntries: 50 });
    for (let i = 0; i < 200; i += 1) small.verify(mint(validClaims({ email: `u${i}@example.test` })));
    const size = small.cacheSize();
    expect(size.entries).toBe(50);
    expect(size.bytes).toBeLessThan(50 * 1024);
  });

  it('keeps its cache of verified tokens bounded in bytes', () => {
    const small = new AccessTokens(SECRET, TTL, { maxBytes: 20_000 });
    for (let i = 0; i < 200; i += 1) small.verify(mint(validClaims({ email: `${'x'.repeat(200)}${i}@example.test` })));
    const size = small.cacheSize();
    expect(size.bytes).toBeLessThanOrEqual(20_000);
    expect(size.entries).toBeGreaterThan(0);
    expect(size.entries).toBeLessThan(200);
  });
});
