import { z } from 'zod';
import { signedIn, type RequestContext } from '../../context.js';
import type { LiveBus } from '../../infra/live-bus.js';
import type { LiveTopics } from '../messages/live-topics.js';
import { Notification, NotificationKind } from '../../entities/notification.entity.js';
import { NotFoundError } from '../../errors.js';
import type { EntityManager } from '../../infra/database.js';
import { decodeCursor, encodeCursor, pageSize, type Page } from '../shared/cursor.js';
import type { NotificationLive } from '../messages/live-topics.js';
import { notificationText } from './notification-text.js';
import {
  countNotifications,
  findNotification,
  inboxPage,
  insertNotification,
  markNotificationRead,
  orderFacts,
  registerDeviceToken,
} from './notification.repository.js';
import type { NotificationRequest } from '../messages/outbox.js';
import { isUuid, parseInput } from '../shared/validation.js';

const DEFAULT_PAGE_SIZE = 20;
const INBOX_CURSOR = 'inbox';

export const DevicePlatform = ['android', 'ios', 'web'] as const;

const RegisterDeviceInput = z.object({
  // FCM tokens are ~150-250 printable characters, APNs ones 64 hex digits; the bounds only keep
  // out what cannot be a token and what would bloat the table.
  token: z
    .string()
    .trim()
    .min(16, { error: 'must be at least 16 characters' })
    .max(4096, { error: 'must be at most 4096 characters' })
    .regex(/^[\x21-\x7e]+$/, { error: 'must be printable ASCII without spaces' }),
  platform: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(DevicePlatform, { error: `must be one of ${DevicePlatform.join(', ')}` }))
    .nullish(),
});

/** The outcome of turning a request into an inbox row. */
export type RecordOutcome =
  | { kind: 'recorded'; notification: Notification; created: boolean }
  /** The order does not exist or is not the user's: the request can never succeed. */
  | { kind: 'invalid'; reason: string };

/**
 * The notification inbox: what the worker writes there, what its owner reads, marks and
 * subscribes to, and the devices push notifications go to. Every read and write is scoped to the
 * signed-in user; another user's notification is NOT_FOUND, so ids are never confirmed to exist.
 */
export class NotificationService {
  constructor(private readonly live: LiveBus<LiveTopics>) {}

  /**
   * The signed-in user's new notifications as they are created, whichever worker creates them and
   * whichever gateway the user is connected to. Live delivery is at-most-once; the inbox is the record.
   */
  received(ctx: RequestContext): AsyncIterableIterator<NotificationLive> {
    return this.live.iterate('notification', signedIn(ctx).id);
  }

  /** The user's notifications, newest first, with keyset cursors over (createdAt, id). */
  async list(ctx: RequestContext, args: { first?: number | null; after?: string | null }): Promise<Page<Notification>> {
    const user = signedIn(ctx);
    const limit = pageSize(args.first ?? DEFAULT_PAGE_SIZE);
    const after = args.after ? decodeCursor(INBOX_CURSOR, args.after, ['timestamp', 'uuid']) : null;
    const rows = await inboxPage(ctx.em, user.id, limit + 1, after ? { createdAt: after[0]!, id: after[1]! } : null);
    const pageRows = rows.slice(0, limit);
    return {
      hasNextPage: rows.length > limit,
      totalCount: pageRows.length > 0 ? Number(pageRows[0]!.total_count) : await countNotifications(ctx.em, user.id),
      items: pageRows.map((row) => ({
        cursor: encodeCursor(INBOX_CURSOR, [row.sort_created_at, row.id]),
        node: ctx.em.map(Notification, row),
      })),
    };
  }

  /** Idempotent: marking again keeps the first read time. */
  async markRead(ctx: RequestContext, id: string): Promise<Notification> {
    const user = signedIn(ctx);
    if (!isUuid(id)) throw new NotFoundError('No such notification');
    const notification = await markNotificationRead(ctx.em, id, user.id);
    if (!notification) throw new NotFoundError('No such notification');
    return notification;
  }

  /**
   * Idempotent per (user, token). A token identifies one app install; when another user signs in
   * on that device it moves to them, so pushes follow whoever is signed in there now.
   */
  async registerDevice(ctx: RequestContext, input: { token: string; platform?: string | null }): Promise<true> {
    const user = signedIn(ctx);
    const { token, platform } = parseInput(RegisterDeviceInput, input);
    await registerDeviceToken(ctx.em, user.id, token, platform ?? null);
    return true;
  }

  /**
   * Writes the inbox row for a request, once: the id comes from the request, so a redelivered
   * request finds the row already there (`created: false`) and changes nothing. Title and body are
   * built from the order and its event as they are now.
   */
  async record(em: EntityManager, request: NotificationRequest): Promise<RecordOutcome> {
    return em.transactional(async (tx) => {
      const existing = await findNotification(tx, request.notificationId);
      if (existing) return { kind: 'recorded', notification: existing, created: false };
      const order = await orderFacts(tx, request.orderId);
      if (!order) return { kind: 'invalid', reason: `order ${request.orderId} does not exist` };
      if (order.user_id !== request.userId) {
        return { kind: 'invalid', reason: `order ${request.orderId} does not belong to user ${request.userId}` };
      }
      const { title, body } = notificationText(request.kind, {
        eventTitle: order.event_title,
        quantity: order.quantity,
        amount: order.amount,
        currency: order.currency,
        expiresAt: new Date(order.expires_at),
      });
      // `do nothing`: a concurrent delivery of the same request may have inserted it meanwhile.
      const inserted = await insertNotification(tx, request, { title, body });
      if (inserted) return { kind: 'recorded', notification: inserted, created: true };
      const raced = await findNotification(tx, request.notificationId);
      // The insert conflicted on the id, so the row is there unless it was deleted in between.
      if (!raced) throw new Error(`notification ${request.notificationId} conflicted on insert but is not there`);
      return { kind: 'recorded', notification: raced, created: false };
    });
  }
}

/** What the live bus carries for a notification; dates as ISO strings. */
export function toNotificationLive(n: Notification): NotificationLive {
  return {
    id: n.id,
    userId: n.userId,
    kind: n.kind,
    title: n.title,
    body: n.body,
    orderId: n.orderId ?? null,
    createdAt: new Date(n.createdAt).toISOString(),
    readAt: n.readAt ? new Date(n.readAt).toISOString() : null,
  };
}

/** A message of the notifications stream, checked before the worker trusts it. */
export function isNotificationRequest(data: unknown): data is NotificationRequest {
  if (typeof data !== 'object' || data === null) return false;
  const r = data as Record<string, unknown>;
  return (
    typeof r['notificationId'] === 'string' &&
    isUuid(r['notificationId']) &&
    typeof r['userId'] === 'string' &&
    isUuid(r['userId']) &&
    typeof r['orderId'] === 'string' &&
    isUuid(r['orderId']) &&
    typeof r['kind'] === 'string' &&
    Object.hasOwn(NotificationKind, r['kind'])
  );
}
