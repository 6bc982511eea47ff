import type { EntityManager } from '../../infra/database.js';
import type { StripeEventLike } from '../../infra/payments/webhook-signature.js';

/**
 * Every SQL statement about stored provider events (`webhook_events`, one row per Stripe event id):
 * the webhook route stores them, the payment worker applies each once, the sweep re-queues the late.
 */

/**
 * Stores a verified event under its id; an `ignored` one is stored as processed already. False
 * when the id was stored before (a repeat changes nothing).
 */
export async function storeWebhookEvent(
  em: EntityManager,
  event: { id: string; type: string },
  rawPayload: string,
  ignored: string | null,
): Promise<boolean> {
  const inserted = await em.execute<{ id: string }[]>(
    `insert into webhook_events (id, type, payload, processed_at, outcome)
       values (?, ?, ?::jsonb, case when ? then now() end, ?)
       on conflict (id) do nothing
       returning id`,
    [event.id, event.type, rawPayload, ignored !== null, ignored],
  );
  return inserted.length > 0;
}

/** Whether a stored event is still to be applied (false for an unknown id). */
export async function isWebhookEventPending(em: EntityManager, id: string): Promise<boolean> {
  const [row] = await em.execute<{ pending: boolean }[]>(
    `select processed_at is null as pending from webhook_events where id = ?`,
    [id],
  );
  return row?.pending ?? false;
}

/** The stored event and whether it was applied, or null for an unknown id. */
export async function storedWebhookEvent(
  em: EntityManager,
  id: string,
): Promise<{ payload: StripeEventLike; processed: boolean } | null> {
  const [row] = await em.execute<{ payload: StripeEventLike; processed: boolean }[]>(
    `select payload, processed_at is not null as processed from webhook_events where id = ?`,
    [id],
  );
  return row ?? null;
}

/**
 * Locks a stored event for applying; false when it was applied already (by an earlier delivery or
 * a concurrent worker, which this waits for). Write nothing before claiming.
 */
export async function claimWebhookEvent(tx: EntityManager, id: string): Promise<boolean> {
  const [row] = await tx.execute<{ processed: boolean }[]>(
    `select processed_at is not null as processed from webhook_events where id = ? for update`,
    [id],
  );
  return row !== undefined && !row.processed;
}

/** Marks a claimed event applied, in the same transaction as what applying it changed. */
export async function finishWebhookEvent(tx: EntityManager, id: string, outcome: string): Promise<void> {
  await tx.execute(`update webhook_events set processed_at = now(), outcome = ? where id = ?`, [outcome, id]);
}

/**
 * Events still unapplied `periodSeconds` after they arrived, oldest first, each with the number of
 * periods it has waited (the sweep's message id changes once per period).
 */
export function unappliedWebhookEvents(
  em: EntityManager,
  periodSeconds: number,
  limit: number,
): Promise<{ id: string; type: string; period: string }[]> {
  return em.execute<{ id: string; type: string; period: string }[]>(
    `select id, type, floor(extract(epoch from now() - received_at) / ?)::bigint as period
         from webhook_events
         where processed_at is null and received_at <= now() - make_interval(secs => ?)
         order by received_at limit ?`,
    [periodSeconds, periodSeconds, limit],
  );
}
