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
 * Buyers written straight into Postgres with tokens minted from the system's secret, like
 * test/support/fixtures.ts: signing in is not what this measures. A million of them take a minute:
 * the rows go in 50,000 per statement (the ids as one array parameter, the rest made by Postgres),
 * the tokens are signed 1,000 at a time, and only the ids, tokens and header lists stay in memory.
 */
export async function createUsers(
  ctx: Pick<Ctx, 'db' | 'tokens' | 'progress'>,
  count: number,
  role: 'USER' | 'ADMIN' = 'USER',
): Promise<Users> {
  const tag = randomBytes(4).toString('hex');
  const ids = Array.from({ length: count }, () => randomUUID());
  const emailOf = (i: number) => `bench-${tag}-${i}@example.test`;
  await insertUsers(ctx, ids, tag, role);
  const auth = await mintTokens(ctx, ids, emailOf, role);
  return { ids, auth, headers: auth.map((a) => jsonHeaders(a)) };
}

/** The first half of createUsers' progress bar; the emails are `emailOf`'s, built in SQL. */
async function insertUsers(
  ctx: Pick<Ctx, 'db' | 'progress'>,
  ids: string[],
  tag: string,
  role: 'USER' | 'ADMIN',
): Promise<void> {
  const count = ids.length;
  const chunk = 50_000;
  for (let i = 0; i < count; i += chunk) {
    const n = Math.min(chunk, count - i);
    await ctx.db.query(
      `insert into users (id, email, name, password_hash, role)
       select u.id, 'bench-' || $2 || '-' || ($3::int + u.n - 1) || '@example.test', 'Bench buyer', 'not-a-hash', $4
       from unnest($1::uuid[]) with ordinality as u(id, n)`,
      [ids.slice(i, i + n), tag, i, role],
    );
    ctx.progress.update((i + n) / count / 2, `${group(i + n)} users inserted`);
  }
}

/** `Bearer <token>` per user, 1,000 signed at a time; the second half of createUsers' progress bar. */
async function mintTokens(
  ctx: Pick<Ctx, 'tokens' | 'progress'>,
  ids: string[],
  emailOf: (i: number) => string,
  role: 'USER' | 'ADMIN',
): Promise<string[]> {
  const count = ids.length;
  const auth: string[] = new Array<string>(count);
  for (let i = 0; i < count; i += 1000) {
    await Promise.all(
      ids.slice(i, i + 1000).map(async (id, j) => {
        auth[i + j] = `Bearer ${await ctx.tokens.issue({ id, email: emailOf(i + j), role, tokenVersion: 0 })}`;
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
