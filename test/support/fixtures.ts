import { randomBytes, randomUUID } from 'node:crypto';
import { CreateEventDocument, SignUpDocument, type CreateEventInput } from '../generated/graphql.js';
import { gqlOk, type TestSystem } from './system.js';

/** The e-mail every test system lists in ADMIN_EMAILS. */
export const ADMIN_EMAIL = 'admin@example.test';

export async function signUp(sys: TestSystem, email = `buyer-${randomBytes(5).toString('hex')}@example.test`) {
  const { signUp } = await gqlOk(sys.url, SignUpDocument, {
    email,
    password: 'password123',
    name: email.split('@')[0]!,
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

/**
 * Many buyers at once, written straight into the database with tokens minted from the system's
 * secret: argon2 is deliberately slow, and signing up is not what a booking race tests.
 */
export async function createBuyers(sys: TestSystem, count: number): Promise<{ id: string; token: string }[]> {
  const users = Array.from({ length: count }, (_, i) => ({
    id: randomUUID(),
    email: `racer-${i}-${randomBytes(3).toString('hex')}@example.test`,
  }));
  const em = sys.app.infra.orm.em.fork();
  for (let i = 0; i < users.length; i += 500) {
    const chunk = users.slice(i, i + 500);
    await em.execute(
      `insert into users (id, email, name, password_hash, role) values ${chunk.map(() => `(?, ?, 'Racer', 'not-a-hash', 'USER')`).join(', ')}`,
      chunk.flatMap((u) => [u.id, u.email]),
    );
  }
  return Promise.all(
    users.map(async (u) => ({
      id: u.id,
      token: await sys.app.services.tokens.issue({ id: u.id, email: u.email, role: 'USER', tokenVersion: 0 }),
    })),
  );
}

/**
 * Where an event's tickets are, in Postgres and in Redis: the numbers every booking test checks
 * against the invariants (tickets held + available = total; Redis agrees with Postgres).
 */
export async function stockState(sys: TestSystem, eventId: string) {
  const em = sys.app.infra.orm.em.fork();
  const [stock] = await em.execute<{ available: number; total: number }[]>(
    `select s.available, e.tickets_total as total from stock s join events e on e.id = s.event_id where s.event_id = ?`,
    [eventId],
  );
  const holders = await em.execute<{ user_id: string; held: string }[]>(
    `select user_id, sum(quantity) as held from orders
     where event_id = ? and status in ('UNPAID', 'PAYING', 'FAILED', 'SUCCEEDED') group by user_id`,
    [eventId],
  );
  const heldByUser = Object.fromEntries(holders.map((h) => [h.user_id, Number(h.held)]));
  return {
    total: Number(stock!.total),
    pgAvailable: Number(stock!.available),
    held: Object.values(heldByUser).reduce((a, b) => a + b, 0),
    heldByUser,
    redis: await sys.app.services.gate.inspect(eventId),
  };
}
