import type { Notification } from '../../entities/notification.entity.js';
import type { Database } from '../../infra/database.js';
import type { LiveBus } from '../../infra/live-bus.js';
import type { PushMessage, PushSender } from '../../infra/push/push-sender.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import type { LiveTopics } from '../messages/live-topics.js';
import type { NotificationRequest } from '../messages/outbox.js';
import { toNotificationLive, type NotificationService } from './notification.service.js';
import { forgetTokens, recordPushes, tokensToPush } from './push-delivery.repository.js';

/** What the queue should do with a request: done, again later, or never (it cannot succeed). */
export type Settlement = { kind: 'ack' } | { kind: 'nak'; delayMs: number } | { kind: 'term'; reason: string };

export interface NotificationDeliveryDeps {
  orm: Database;
  notifications: NotificationService;
  sender: PushSender;
  live: LiveBus<LiveTopics>;
  metrics: Metrics;
  log: Logger;
  /** Deliveries of one request before a device that keeps failing is given up. */
  maxAttempts: number;
  /** Delay before redelivering a request whose push failed, doubled per attempt, at most 60 s. */
  retryBaseDelayMs: number;
}

/**
 * One NotificationRequest into an inbox row, a live message to every session of the user and a
 * mobile push to each of the user's devices, each step de-duplicated by the notification id:
 * - inbox: inserted once (the id is the primary key);
 * - live: published only by the delivery that inserted the inbox row. The live bus is
 *   at-most-once anyway, and a client that missed it finds the notification in its inbox;
 * - push: at-least-once per device. Devices already recorded as `sent` in push_deliveries are
 *   skipped; a crash between sending and recording sends again, and the device drops the copy by
 *   the notification id (FCM collapse key). A failed device gets the request redelivered later;
 *   an invalid token is forgotten.
 */
export class NotificationDelivery {
  constructor(private readonly deps: NotificationDeliveryDeps) {}

  /** Delivers a request on its `deliveryCount`-th delivery; throws on a passing fault. */
  async deliver(request: NotificationRequest, deliveryCount: number): Promise<Settlement> {
    const { orm, notifications, metrics, live } = this.deps;
    const outcome = await notifications.record(orm.em.fork(), request);
    if (outcome.kind === 'invalid') return { kind: 'term', reason: outcome.reason };
    const { notification, created } = outcome;
    if (created) {
      metrics.notificationsCreated.inc({ kind: notification.kind });
      live.publish('notification', notification.userId, toNotificationLive(notification));
    }
    return this.push(notification, deliveryCount);
  }

  private async push(notification: Notification, deliveryCount: number): Promise<Settlement> {
    const { orm, sender, metrics, log, maxAttempts, retryBaseDelayMs: baseDelayMs } = this.deps;
    const em = orm.em.fork();
    const tokens = await tokensToPush(em, notification.userId, notification.id);
    if (tokens.length === 0) return { kind: 'ack' };
    const message: PushMessage = {
      notificationId: notification.id,
      title: notification.title,
      body: notification.body,
      data: { kind: notification.kind, ...(notification.orderId ? { orderId: notification.orderId } : {}) },
    };
    const results = await sender.send(tokens, message);
    await recordPushes(em, sender.name, message, results);
    await forgetTokens(
      em,
      notification.userId,
      results.filter((r) => r.outcome === 'invalid_token').map((r) => r.token),
    );
    for (const r of results) metrics.pushes.inc({ provider: sender.name, outcome: r.outcome });

    const failed = results.filter((r) => r.outcome === 'failed');
    if (failed.length === 0) return { kind: 'ack' };
    if (deliveryCount >= maxAttempts) {
      metrics.pushes.inc({ provider: sender.name, outcome: 'gave_up' }, failed.length);
      log.warn(
        { notificationId: notification.id, devices: failed.length, attempts: deliveryCount },
        'giving up pushing to devices that keep failing',
      );
      return { kind: 'ack' };
    }
    return { kind: 'nak', delayMs: Math.min(60_000, baseDelayMs * 2 ** (deliveryCount - 1)) };
  }
}
