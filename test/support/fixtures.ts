import { randomBytes } from 'node:crypto';
import { CreateEventDocument, SignUpDocument, type CreateEventInput } from '../generated/graphql.js';
import { gqlOk, type TestSystem } from './system.js';

/** The e-mail every test system lists in ADMIN_EMAILS. */
export const ADMIN_EMAIL = 'admin@example.test';

export async function signUp(sys: TestSystem, email = `buyer-${randomBytes(5).toString('hex')}@example.test`) {
  const { signUp } = await gqlOk(sys.url, SignUpDocument, {
    email,
    password: 'password123',
    name: email.split('@')[0],
  });
  return { token: signUp.token, user: signUp.user };
}

export const HOUR = 3600_000;

/** An event on sale now unless the overrides say otherwise. */
export function eventInput(overrides: Partial<CreateEventInput> = {}): CreateEventInput {
  return {
    title: 'Test Event',
    description: 'An event made by a test.',
    venue: 'Test Hall',
    startsAt: new Date(Date.now() + 48 * HOUR).toISOString(),
    saleStartsAt: new Date(Date.now() - HOUR).toISOString(),
    price: 5000,
    currency: 'USD',
    ticketsTotal: 100,
    maxPerUser: 4,
    ...overrides,
  };
}

export async function createEvent(sys: TestSystem, adminToken: string, overrides: Partial<CreateEventInput> = {}) {
  const { createEvent } = await gqlOk(sys.url, CreateEventDocument, { input: eventInput(overrides) }, adminToken);
  return createEvent;
}
