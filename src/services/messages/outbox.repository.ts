import type { EntityManager } from '../../infra/database.js';
import type { OutboxTopic } from './outbox.js';

/**
 * Every SQL statement of the outbox relay (`outbox`; rows are written by addToOutbox through the
 * ORM, in the transaction that asks for the message). Claims are leases by Postgres' clock.
 */

export interface OutboxRow {
  id: string;
  subject: OutboxTopic;
  payload: Record<string, unknown>;
}

/**
 * Claims up to `limit` unpublished rows of these topics for `claimMs`, skipping rows claimed or
 * locked by another relay, in one short statement.
 */
export function claimOutboxRows(
  em: EntityManager,
  topics: readonly OutboxTopic[],
  claimMs: number,
  limit: number,
): Promise<OutboxRow[]> {
  return em.execute<OutboxRow[]>(
    `update outbox set claimed_until = now() + make_interval(secs => ?)
       where id in (
         select id from outbox
         where published_at is null and subject in (?) and (claimed_until is null or claimed_until <= now())
         order by id
         limit ?
         for update skip locked)
       returning id, subject, payload`,
    [claimMs / 1000, [...topics], limit],
  );
}

/** Stamps the rows published; returns those it stamped, with their lag since they were written. */
export function markOutboxPublished(
  em: EntityManager,
  ids: readonly string[],
): Promise<{ subject: string; lag: number }[]> {
  return em.execute<{ subject: string; lag: number }[]>(
    `update outbox set published_at = now(), claimed_until = null where id in (?) and published_at is null
         returning subject, extract(epoch from clock_timestamp() - created_at)::float8 as lag`,
    [[...ids]],
  );
}

/** Gives a claim up, so any relay may publish the rows at once. */
export async function releaseOutboxClaim(em: EntityManager, ids: readonly string[]): Promise<void> {
  await em.execute(`update outbox set claimed_until = null where id in (?) and published_at is null`, [[...ids]]);
}

/** Milliseconds until the first claim of another relay ends, if unpublished rows wait on one. */
export async function nextOutboxClaimEnd(
  em: EntityManager,
  topics: readonly OutboxTopic[],
): Promise<number | undefined> {
  const [row] = await em.execute<{ ms: number | null }[]>(
    `select ceil(extract(epoch from min(claimed_until) - now()) * 1000)::int as ms
       from outbox where published_at is null and subject in (?) and claimed_until > now()`,
    [[...topics]],
  );
  return row?.ms ?? undefined;
}
