import { randomUUID } from 'node:crypto';
import argon2 from 'argon2';
import { UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import { z } from 'zod';
import type { RequestContext } from '../../context.js';
import { User, UserRole } from '../../entities/user.entity.js';
import { ConflictError, UnauthenticatedError } from '../../errors.js';
import type { AccessTokens, TokenSubject } from './access-tokens.js';
import type { AuthThrottle } from './auth-throttle.js';
import { parseInput } from '../shared/validation.js';

const SignUpInput = z.object({
  email: z
    .email({ error: 'must be a valid e-mail address' })
    .max(254)
    .transform((e) => e.toLowerCase()),
  password: z
    .string()
    .min(8, { error: 'must be at least 8 characters' })
    .max(256, { error: 'must be at most 256 characters' }),
  name: z.string().trim().min(1, { error: 'must not be empty' }).max(100, { error: 'must be at most 100 characters' }),
});

/** Compared against when the e-mail is unknown, so a wrong e-mail costs as long as a wrong password. */
const DUMMY_HASH = argon2.hash('not-a-real-password', { type: argon2.argon2id });

export class AuthService {
  constructor(
    private readonly tokens: AccessTokens,
    private readonly adminEmails: ReadonlySet<string>,
    private readonly throttle: AuthThrottle,
  ) {}

  async signUp(ctx: RequestContext, input: { email: string; password: string; name: string }) {
    const { email, password, name } = parseInput(SignUpInput, input);
    // Before the hash: a sign-up refused here costs nothing.
    await this.throttle.signUpAttempt(ctx.clientAddress);
    const user = ctx.em.create(User, {
      id: randomUUID(),
      email,
      name,
      passwordHash: await argon2.hash(password, { type: argon2.argon2id }),
      role: this.adminEmails.has(email) ? UserRole.ADMIN : UserRole.USER,
      createdAt: new Date(),
    });
    try {
      await ctx.em.flush();
    } catch (err) {
      if (err instanceof UniqueConstraintViolationException) {
        throw new ConflictError('email: an account with this e-mail already exists', { field: 'email' });
      }
      throw err;
    }
    return this.session(user);
  }

  async signIn(ctx: RequestContext, input: { email: string; password: string }) {
    const email = input.email.trim().toLowerCase();
    // Before the password check: while backing off, no password is checked, right or wrong.
    const attempt = await this.throttle.signInAttempt(email, ctx.clientAddress);
    const user = await ctx.em.findOne(User, { email });
    const valid = await argon2.verify(user?.passwordHash ?? (await DUMMY_HASH), input.password);
    if (!user || !valid) throw new UnauthenticatedError('Wrong e-mail or password');
    await attempt.succeeded();
    return this.session(user);
  }

  async me(ctx: RequestContext): Promise<User | null> {
    if (!ctx.user) return null;
    return ctx.em.findOne(User, { id: ctx.user.id });
  }

  private async session(user: User): Promise<{ token: string; user: User }> {
    const subject: TokenSubject = { id: user.id, email: user.email, role: user.role, tokenVersion: user.tokenVersion };
    return { token: await this.tokens.issue(subject), user };
  }
}
