import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { User } from '../src/entities/user.entity.js';
import { AccessTokens } from '../src/services/auth/access-tokens.js';
import { MeDocument, SignInDocument, SignUpDocument } from './generated/graphql.js';
import { errorCode, gql, gqlOk, startTestSystem, subscribe, wsClient, type TestSystem } from './support/system.js';

let sys: TestSystem;
const ADMIN = 'boss@example.test';

beforeAll(async () => {
  sys = await startTestSystem({ ADMIN_EMAILS: `someone@example.test, ${ADMIN.toUpperCase()}` });
});
afterAll(async () => {
  await sys.stop();
});

describe('sign-up, sign-in and me', () => {
  it('signs a buyer up with the USER role and a token that identifies them', async () => {
    const { signUp } = await gqlOk(sys.url, SignUpDocument, {
      email: 'Ann@Example.test',
      password: 'correct horse',
      name: 'Ann',
    });
    expect(signUp.user).toMatchObject({ email: 'ann@example.test', name: 'Ann', role: 'USER' });
    const { me } = await gqlOk(sys.url, MeDocument, {}, signUp.token);
    expect(me).toEqual(signUp.user);
  });

  it('gives the ADMIN role to an e-mail listed in ADMIN_EMAILS, whatever its case', async () => {
    const { signUp } = await gqlOk(sys.url, SignUpDocument, { email: ADMIN, password: 'admin password', name: 'Boss' });
    expect(signUp.user.role).toBe('ADMIN');
  });

  it('stores an argon2id hash, never the password', async () => {
    await gqlOk(sys.url, SignUpDocument, { email: 'hash@example.test', password: 'plain text pw', name: 'H' });
    const user = await sys.app.infra.orm.em.fork().findOneOrFail(User, { email: 'hash@example.test' });
    expect(user.passwordHash).toMatch(/^\$argon2id\$/);
    expect(user.passwordHash).not.toContain('plain text pw');
  });

  it('refuses a second account for the same e-mail with CONFLICT', async () => {
    await gqlOk(sys.url, SignUpDocument, { email: 'dup@example.test', password: 'password1', name: 'D' });
    const res = await gql(sys.url, SignUpDocument, { email: 'DUP@example.test', password: 'password2', name: 'D2' });
    expect(errorCode(res)).toBe('CONFLICT');
    expect(res.errors?.[0]?.message).toMatch(/email/);
  });

  it.each([
    ['email', { email: 'not-an-email', password: 'password1', name: 'X' }],
    ['password', { email: 'short@example.test', password: 'short', name: 'X' }],
    ['name', { email: 'noname@example.test', password: 'password1', name: '   ' }],
  ])('answers BAD_USER_INPUT naming the %s field when it is invalid', async (field, input) => {
    const res = await gql(sys.url, SignUpDocument, input);
    expect(errorCode(res)).toBe('BAD_USER_INPUT');
    expect(res.errors?.[0]?.message).toContain(field);
    expect(res.errors?.[0]?.extensions?.['field']).toBe(field);
  });

  it('answers BAD_USER_INPUT naming the variable when the input is malformed', async () => {
    const res = await gql(sys.url, SignUpDocument, { email: 'x@example.test', password: 12345678, name: 'X' } as never);
    expect(errorCode(res)).toBe('BAD_USER_INPUT');
    expect(res.errors?.[0]?.message).toContain('$password');
  });

  it('signs in with the right password, case-insensitively by e-mail', async () => {
    await gqlOk(sys.url, SignUpDocument, { email: 'bob@example.test', password: 'bob password', name: 'Bob' });
    const { signIn } = await gqlOk(sys.url, SignInDocument, { email: 'BOB@example.test', password: 'bob password' });
    expect(signIn.user.email).toBe('bob@example.test');
    expect((await gqlOk(sys.url, MeDocument, {}, signIn.token)).me?.email).toBe('bob@example.test');
  });

  it('answers UNAUTHENTICATED to a wrong password and to an unknown e-mail alike', async () => {
    const wrong = await gql(sys.url, SignInDocument, { email: 'bob@example.test', password: 'nope nope' });
    const unknown = await gql(sys.url, SignInDocument, { email: 'nobody@example.test', password: 'nope nope' });
    expect(errorCode(wrong)).toBe('UNAUTHENTICATED');
    expect(errorCode(unknown)).toBe('UNAUTHENTICATED');
    expect(wrong.errors?.[0]?.message).toBe(unknown.errors?.[0]?.message);
  });
});

describe('access tokens', () => {
  it('answers UNAUTHENTICATED to me without a token', async () => {
    expect(errorCode(await gql(sys.url, MeDocument, {}))).toBe('UNAUTHENTICATED');
  });

  it('refuses a token signed with another key (401, UNAUTHENTICATED)', async () => {
    const forged = await new AccessTokens('x'.repeat(40), 3600).issue({
      id: crypto.randomUUID(),
      email: 'f@example.test',
      role: 'ADMIN',
      tokenVersion: 0,
    });
    const res = await gql(sys.url, MeDocument, {}, forged);
    expect(res.status).toBe(401);
    expect(errorCode(res)).toBe('UNAUTHENTICATED');
  });

  it('refuses an expired token', async () => {
    const { signUp } = await gqlOk(sys.url, SignUpDocument, {
      email: 'exp@example.test',
      password: 'password1',
      name: 'E',
    });
    const expired = await new AccessTokens(sys.config.auth.jwtSecret, 3600).issue(
      { ...signUp.user, tokenVersion: 0 },
      -10,
    );
    const res = await gql(sys.url, MeDocument, {}, expired);
    expect(errorCode(res)).toBe('UNAUTHENTICATED');
    expect(res.errors?.[0]?.message).toMatch(/expired/);
  });

  it('refuses a token whose algorithm is none or whose claims are missing', async () => {
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}.`;
    expect(errorCode(await gql(sys.url, MeDocument, {}, unsigned))).toBe('UNAUTHENTICATED');
    const key = new TextEncoder().encode(sys.config.auth.jwtSecret);
    const noRole = await new SignJWT({ email: 'a@b.c' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('x')
      .setIssuer('flash-sale-ticketing')
      .setExpirationTime('1h')
      .sign(key);
    expect(errorCode(await gql(sys.url, MeDocument, {}, noRole))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(sys.url, MeDocument, {}, 'garbage'))).toBe('UNAUTHENTICATED');
  });

  it('authenticates graphql-ws connections from connection_init and closes one with a forged token', async () => {
    const { signUp } = await gqlOk(sys.url, SignUpDocument, {
      email: 'ws@example.test',
      password: 'password1',
      name: 'W',
    });
    const good = wsClient(sys.wsUrl, signUp.token);
    const me = subscribe(good, MeDocument);
    const msg = await me.next();
    expect(msg.data?.me?.email).toBe('ws@example.test');
    await good.dispose();

    const anonymous = wsClient(sys.wsUrl);
    const anonMe = subscribe(anonymous, MeDocument);
    const anonMsg = await anonMe.next();
    expect((anonMsg.errors as { extensions?: { code?: string } }[])[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    await anonymous.dispose();

    const forged = await new AccessTokens('y'.repeat(40), 3600).issue({
      id: signUp.user.id,
      email: 'ws@example.test',
      role: 'USER',
      tokenVersion: 0,
    });
    const bad = wsClient(sys.wsUrl, forged);
    const badMe = subscribe(bad, MeDocument);
    await expect.poll(() => badMe.completed, { timeout: 5000 }).toBe(true);
    expect((badMe.failure as { code?: number }).code).toBe(4403);
    expect(badMe.messages).toEqual([]);
    await bad.dispose();
  });
});
