import { v5 as uuidv5 } from 'uuid';
import { OutboxMessage } from '../../entities/outbox-message.entity.js';
import type { NotificationKind } from '../../entities/notification.entity.js';
import type { EntityManager } from '../../infra/database.js';

/** Ask for a notification; the notification worker turns it into an inbox row and pushes. */
export interface NotificationRequest {
  /** Derived from (order, kind) so that the same request twice makes one notification. */
  notificationId: string;
  kind: NotificationKind;
  userId: string;
  orderId: string;
}

/** Fixed forever: changing it would give a retried request a new notification id. */
const NOTIFICATION_ID_NAMESPACE = '5f0c7a52-3d1e-4b8e-9a61-0b7f2c4d9e13';

/** The id of the notification of `kind` about `orderId` (UUIDv5): the same pair always gives the same id. */
export function notificationIdFor(orderId: string, kind: NotificationKind): string {
  return uuidv5(`${orderId}:${kind}`, NOTIFICATION_ID_NAMESPACE);
}

/** What each outbox topic carries. The relay maps a topic to its JetStream subject. */
export interface OutboxPayloads {
  notification: NotificationRequest;
}
export type OutboxTopic = keyof OutboxPayloads;

/**
 * Records a message in the caller's transaction (transactional outbox): it becomes visible to the
 * relay exactly when the state change that caused it commits, and is published after that.
 */
export function addToOutbox<T extends OutboxTopic>(em: EntityManager, topic: T, payload: OutboxPayloads[T]): void {
  em.create(OutboxMessage, { subject: topic, payload: { ...payload }, createdAt: new Date() });
}
