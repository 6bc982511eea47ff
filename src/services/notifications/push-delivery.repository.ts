import type { EntityManager } from '../../infra/database.js';
import type { PushMessage, PushResult } from '../../infra/push/push-sender.js';

/**
 * The push ledger (`push_deliveries`, unique per notification and token): what makes a redelivered
 * notification skip devices that already got it, and where the log driver's pushes can be read.
 */

export type PushStatus = PushResult['outcome'];

/** The user's device tokens that have not yet been sent this notification. */
export async function tokensToPush(em: EntityManager, userId: string, notificationId: string): Promise<string[]> {
  const rows = await em.execute<{ token: string }[]>(
    `select d.token from device_tokens d
     where d.user_id = ?
       and not exists (
         select 1 from push_deliveries p
         where p.notification_id = ? and p.token = d.token and p.status = 'sent')
     order by d.token`,
    [userId, notificationId],
  );
  return rows.map((r) => r.token);
}

/**
 * Records push outcomes. A row that says `sent` is never changed back: whoever wrote it first (the
 * log driver records while "sending") stays the record; other outcomes are updated by a retry.
 */
export async function recordPushes(
  em: EntityManager,
  provider: string,
  message: PushMessage,
  results: readonly { token: string; outcome: PushStatus; error?: string }[],
): Promise<void> {
  if (results.length === 0) return;
  const params: unknown[] = [];
  for (const r of results) {
    const payload = r.error === undefined ? message : { ...message, error: r.error };
    params.push(message.notificationId, r.token, provider, r.outcome, JSON.stringify(payload));
  }
  await em.execute(
    `insert into push_deliveries (notification_id, token, provider, status, payload)
     values ${results.map(() => '(?, ?, ?, ?, ?::jsonb)').join(', ')}
     on conflict (notification_id, token) do update
       set status = excluded.status, provider = excluded.provider, payload = excluded.payload
       where push_deliveries.status <> 'sent'`,
    params,
  );
}

/** Forgets tokens the provider says will never work again (the app was uninstalled, say). */
export async function forgetTokens(em: EntityManager, userId: string, tokens: readonly string[]): Promise<void> {
  if (tokens.length === 0) return;
  await em.execute(`delete from device_tokens where user_id = ? and token in (?)`, [userId, tokens]);
}
