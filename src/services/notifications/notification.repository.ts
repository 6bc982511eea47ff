import { Notification } from '../../entities/notification.entity.js';
import type { EntityManager } from '../../infra/database.js';
import type { NotificationRequest } from '../messages/outbox.js';

/** Every SQL statement of the inbox (`notifications`) and of the devices pushes go to (`device_tokens`). */

/** An inbox row with its sort key as Postgres' own text and the user's total count. */
export interface InboxRow {
  id: string;
  sort_created_at: string;
  total_count: string;
  [column: string]: unknown;
}

/** What a notification's text needs of its order, with the owner to check the request against. */
export interface OrderFactsRow {
  user_id: string;
  quantity: number;
  amount: number;
  currency: string;
  expires_at: Date;
  event_title: string;
}

/** The user's notifications, newest first, after the keyset `after`; `limit` rows at most. */
export function inboxPage(
  em: EntityManager,
  userId: string,
  limit: number,
  after: { createdAt: string; id: string } | null,
): Promise<InboxRow[]> {
  const params: unknown[] = [userId, userId];
  let keyset = 'true';
  if (after) {
    keyset = '(n.created_at, n.id) < (?::timestamptz, ?::uuid)';
    params.push(after.createdAt, after.id);
  }
  params.push(limit);
  return em.execute<InboxRow[]>(
    `select n.*, n.created_at::text as sort_created_at,
              (select count(*) from notifications c where c.user_id = ?) as total_count
       from notifications n
       where n.user_id = ? and ${keyset}
       order by n.created_at desc, n.id desc
       limit ?`,
    params,
  );
}

export async function countNotifications(em: EntityManager, userId: string): Promise<number> {
  const [row] = await em.execute<{ n: string }[]>(`select count(*) as n from notifications where user_id = ?`, [
    userId,
  ]);
  return Number(row?.n ?? 0);
}

/** Marks the user's notification read (keeping the first read time); null when it is not theirs. */
export async function markNotificationRead(
  em: EntityManager,
  id: string,
  userId: string,
): Promise<Notification | null> {
  const [row] = await em.execute<Record<string, unknown>[]>(
    `update notifications set read_at = coalesce(read_at, now())
       where id = ? and user_id = ?
       returning *`,
    [id, userId],
  );
  return row ? em.map(Notification, row) : null;
}

/** The notification as Postgres has it now, or null. */
export async function findNotification(em: EntityManager, id: string): Promise<Notification | null> {
  const [row] = await em.execute<Record<string, unknown>[]>(`select * from notifications where id = ?`, [id]);
  return row ? em.map(Notification, row) : null;
}

/** The inbox row for a request; null when a concurrent delivery inserted it first (`do nothing`). */
export async function insertNotification(
  em: EntityManager,
  request: NotificationRequest,
  text: { title: string; body: string },
): Promise<Notification | null> {
  const [inserted] = await em.execute<Record<string, unknown>[]>(
    `insert into notifications (id, user_id, kind, title, body, order_id) values (?, ?, ?, ?, ?, ?)
         on conflict (id) do nothing
         returning *`,
    [request.notificationId, request.userId, request.kind, text.title, text.body, request.orderId],
  );
  return inserted ? em.map(Notification, inserted) : null;
}

/** The order and event facts a notification's text is made from, or null for an unknown order. */
export async function orderFacts(em: EntityManager, orderId: string): Promise<OrderFactsRow | null> {
  const [order] = await em.execute<OrderFactsRow[]>(
    `select o.user_id, o.quantity, o.amount, o.currency, o.expires_at, e.title as event_title
         from orders o join events e on e.id = o.event_id
         where o.id = ?`,
    [orderId],
  );
  return order ?? null;
}

/** Idempotent per (user, token); a token another user registered moves to this one. */
export async function registerDeviceToken(
  em: EntityManager,
  userId: string,
  token: string,
  platform: string | null,
): Promise<void> {
  await em.execute(
    `insert into device_tokens (token, user_id, platform) values (?, ?, ?)
       on conflict (token) do update set
         platform = coalesce(excluded.platform, device_tokens.platform),
         last_seen_at = now(),
         created_at = case when device_tokens.user_id = excluded.user_id then device_tokens.created_at else now() end,
         user_id = excluded.user_id`,
    [token, userId, platform],
  );
}
