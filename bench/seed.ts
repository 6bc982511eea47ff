import { randomBytes, randomUUID } from 'node:crypto';
import type { Ctx } from './context.js';
import { jsonHeaders, type HttpClient, type RawHeaders } from './load.js';
import { CREATE_EVENT } from './operations.js';
import { group } from './stats.js';

/** The data a run starts from: buyers with their tokens, and the events they book. */

export interface Users {
  ids: string[];
  /** `Bearer <token>` per user. */
  auth: string[];
  /** Pre-built HTTP header lists per user. */
  headers: RawHeaders[];
}

/**
 * Buyers written straight into Postgres (multi-row inserts) with tokens minted from the system's
 * secret, like test/support/fixtures.ts: signing in is not what this measures.
 */
export async function createUsers(
  ctx: Pick<Ctx, 'db' | 'tokens' | 'progress'>,
  count: number,
  role: 'USER' | 'ADMIN' = 'USER',
): Promise<Users> {
  const tag = randomBytes(4).toString('hex');
  const ids = Array.from({ length: count }, () => randomUUID());
  const emails = ids.map((_, i) => `bench-${tag}-${i}@example.test`);
  await insertUsers(ctx, ids, emails, role);
  const auth = await mintTokens(ctx, ids, emails, role);
  return { ids, auth, headers: auth.map((a) => jsonHeaders(a)) };
}

/** The first half of createUsers' progress bar. */
async function insertUsers(
  ctx: Pick<Ctx, 'db' | 'progress'>,
  ids: string[],
  emails: string[],
  role: 'USER' | 'ADMIN',
): Promise<void> {
  const count = ids.length;
  const chunk = 2000;
  for (let i = 0; i < count; i += chunk) {
    const n = Math.min(chunk, count - i);
    const values = Array.from(
      { length: n },
      (_, j) => `($${2 * j + 1}, $${2 * j + 2}, 'Bench buyer', 'not-a-hash', '${role}')`,
    );
    const params: string[] = [];
    for (let j = 0; j < n; j++) params.push(ids[i + j]!, emails[i + j]!);
    await ctx.db.query(`insert into users (id, email, name, password_hash, role) values ${values.join(', ')}`, params);
    ctx.progress.update((i + n) / count / 2, `${group(i + n)} users inserted`);
  }
}

/** `Bearer <token>` per user, 1,000 signed at a time; the second half of createUsers' progress bar. */
async function mintTokens(
  ctx: Pick<Ctx, 'tokens' | 'progress'>,
  ids: string[],
  emails: string[],
  role: 'USER' | 'ADMIN',
): Promise<string[]> {
  const count = ids.length;
  const auth: string[] = new Array<string>(count);
  for (let i = 0; i < count; i += 1000) {
    await Promise.all(
      ids.slice(i, i + 1000).map(async (id, j) => {
        auth[i + j] = `Bearer ${await ctx.tokens.issue({ id, email: emails[i + j]!, role, tokenVersion: 0 })}`;
      }),
    );
    ctx.progress.update(0.5 + Math.min(count, i + 1000) / count / 2, `${group(Math.min(count, i + 1000))} tokens`);
  }
  return auth;
}

/** An event created through the API by the admin; returns its id. */
export async function createEvent(
  ctx: Pick<Ctx, 'adminAuth'>,
  client: HttpClient,
  opts: { title: string; tickets: number; saleStartsAt: Date },
): Promise<string> {
  const input = {
    title: opts.title,
    description: 'A flash sale run by the benchmark.',
    venue: 'Bench Arena',
    startsAt: new Date(Date.now() + 48 * 3600_000).toISOString(),
    saleStartsAt: opts.saleStartsAt.toISOString(),
    price: 5000,
    currency: 'USD',
    ticketsTotal: opts.tickets,
    maxPerUser: 4,
  };
  const answer = await client.graphql(
    JSON.stringify({ query: CREATE_EVENT, variables: { input } }),
    jsonHeaders(ctx.adminAuth),
  );
  const body = JSON.parse(answer.body) as { data?: { createEvent?: { id: string } }; errors?: unknown };
  if (!body.data?.createEvent) throw new Error(`createEvent failed: ${answer.body.slice(0, 500)}`);
  return body.data.createEvent.id;
}
