import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { AccessTokens } from './access-tokens.js';

const SECRET = 's'.repeat(48);
const tokens = new AccessTokens(SECRET, 3600);
const user = { id: '11111111-1111-4111-8111-111111111111', email: 'a@example.test', role: 'USER' as const };
const key = new TextEncoder().encode(SECRET);

describe('AccessTokens', () => {
  it('verifies what it issued, and answers from its cache afterwards', async () => {
    const token = await tokens.issue(user);
    expect(tokens.verify(token)).toEqual(user);
    expect(tokens.verify(token)).toEqual(user);
  });

  it('refuses a token whose payload was changed after signing', async () => {
    const [h, , s] = (await tokens.issue(user)).split('.');
    const forgedPayload = Buffer.from(
      JSON.stringify({ sub: user.id, email: user.email, role: 'ADMIN', iss: 'flash-sale-ticketing', exp: 9e9 }),
    ).toString('base64url');
    expect(() => tokens.verify(`${h}.${forgedPayload}.${s}`)).toThrow('invalid');
  });

  it('refuses other algorithms, other issuers and expired tokens, even when signed with the secret', async () => {
    const claims = { email: user.email, role: 'USER' };
    const hs512 = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS512' })
      .setSubject(user.id)
      .setIssuer('flash-sale-ticketing')
      .setExpirationTime('1h')
      .sign(key);
    const otherIssuer = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(user.id)
      .setIssuer('someone-else')
      .setExpirationTime('1h')
      .sign(key);
    const expired = await tokens.issue(user, -1);
    expect(() => tokens.verify(hs512)).toThrow('invalid');
    expect(() => tokens.verify(otherIssuer)).toThrow('invalid');
    expect(() => tokens.verify(expired)).toThrow('expired');
    expect(() => tokens.verify('a.b')).toThrow('invalid');
  });
});
