import { randomBytes, randomUUID } from 'node:crypto';
import type { App } from '../../src/app.js';
import { Booking } from '../../src/entities/booking.entity.js';
import type { NotificationKind } from '../../src/entities/notification.entity.js';
import { Order, type OrderStatus } from '../../src/entities/order.entity.js';
import { addToOutbox, notificationIdFor, type NotificationRequest } from '../../src/services/messages/outbox.js';

/**
 * Orders and notification requests made the way the booking and payment code makes them: rows
 * written with the EntityManager, and the request added to the outbox in the same transaction.
 */

export interface TestOrder {
  id: string;
  userId: string;
}

/** A booking and its order, written directly (the booking pipeline is not involved). */
export async function insertOrder(
  app: App,
  userId: string,
  event: { id: string; price: number; currency: string },
  opts: { quantity?: number; status?: OrderStatus } = {},
): Promise<TestOrder> {
  const quantity = opts.quantity ?? 2;
  const bookingId = randomUUID();
  const orderId = randomUUID();
  await app.infra.orm.em.fork().transactional(async (em) => {
    await em.insert(Booking, {
      id: bookingId,
      userId,
      eventId: event.id,
      quantity,
      idempotencyKey: randomBytes(8).toString('hex'),
      status: 'RESERVED',
      orderId,
      requestedAt: new Date(),
      decidedAt: new Date(),
    });
    await em.insert(Order, {
      id: orderId,
      bookingId,
      userId,
      eventId: event.id,
      quantity,
      amount: quantity * event.price,
      currency: event.currency,
      status: opts.status ?? 'SUCCEEDED',
      expiresAt: new Date(Date.now() + 5 * 60_000),
      createdAt: new Date(),
      updatedAt: new Date(),
    });
  });
  return { id: orderId, userId };
}

export function notificationRequest(order: TestOrder, kind: NotificationKind = 'ORDER_SUCCEEDED'): NotificationRequest {
  return { notificationId: notificationIdFor(order.id, kind), kind, userId: order.userId, orderId: order.id };
}

/** Adds the requests to the outbox in one transaction, as a state change that causes them would. */
export async function requestNotifications(app: App, requests: NotificationRequest[]): Promise<void> {
  await app.infra.orm.em.fork().transactional(async (em) => {
    for (const request of requests) addToOutbox(em, 'notification', request);
  });
}

/** A device token shaped like an FCM registration token. */
export function fakeDeviceToken(label = 'device'): string {
  return `${label}:${randomBytes(48).toString('base64url')}`;
}

/** Rows of a table for one notification (or for all, without an id), read with plain SQL. */
export async function pushDeliveries(app: App, notificationId: string) {
  return app.infra.orm.em
    .fork()
    .execute<{ token: string; provider: string; status: string; payload: Record<string, unknown> }[]>(
      `select token, provider, status, payload from push_deliveries where notification_id = ? order by token`,
      [notificationId],
    );
}

export async function inboxRows(app: App, notificationId: string) {
  return app.infra.orm.em
    .fork()
    .execute<{ id: string; user_id: string; title: string; body: string }[]>(
      `select id, user_id, title, body from notifications where id = ?`,
      [notificationId],
    );
}

/** Waits until JetStream has nothing left for the consumer: every delivered message settled. */
export async function consumerIdle(app: App, durable = 'notifications'): Promise<boolean> {
  const { nats } = app.infra;
  const info = await nats.jsm.consumers.info(nats.names.streams.notifications, durable);
  return info.num_pending === 0 && info.num_ack_pending === 0;
}
