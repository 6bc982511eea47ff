import type { Infra } from '../infra/infra.js';
import type { Notification } from '../entities/notification.entity.js';
import { createPushSender } from '../infra/push/create-push-sender.js';
import type { PushMessage, PushSender } from '../infra/push/push-sender.js';
import { runConsumer } from '../infra/queue-consumer.js';
import {
  isNotificationRequest,
  toNotificationLive,
  type NotificationService,
} from '../services/notifications/notification.service.js';
import type { NotificationRequest } from '../services/messages/outbox.js';
import { forgetTokens, recordPushes, tokensToPush } from '../services/notifications/push-delivery.repository.js';
import type { Worker } from './worker.js';

export interface NotificationWorkerOptions {
  /** Default: the configured driver (PUSH_PROVIDER). Tests pass their own. */
  sender?: PushSender;
  /** Deliveries of one request before a device that keeps failing is given up; default 6. */
  maxAttempts?: number;
  /** Delay before redelivering a request whose push failed, doubled per attempt; default 2 s, at most 60 s. */
  retryBaseDelayMs?: number;
  durable?: string;
}

type Settlement = { kind: 'ack' } | { kind: 'nak'; delayMs: number } | { kind: 'term'; reason: string };

/**
 * Turns NotificationRequests (from the outbox, via the relay) into an inbox row, a live message to
 * every session of the user and a mobile push to each of the user's devices.
 *
 * Redeliveries are expected (JetStream is at-least-once, the relay may republish), so each step
 * is de-duplicated by the notification id:
 * - inbox: inserted once (the id is the primary key);
 * - live: published only by the delivery that inserted the inbox row. The live bus is
 *   at-most-once anyway, and a client that missed it finds the notification in its inbox;
 * - push: at-least-once per device. Devices already recorded as `sent` in push_deliveries are
 *   skipped; a crash between sending and recording sends again, and the device drops the copy by
 *   the notification id (FCM collapse key). A failed device gets the request redelivered later;
 *   an invalid token is forgotten.
 */
export async function startNotificationWorker(
  infra: Infra,
  notifications: NotificationService,
  options: NotificationWorkerOptions = {},
): Promise<Worker> {
  const { orm, nats, metrics, live } = infra;
  const log = infra.log.child({ worker: 'notifications' });
  const maxAttempts = options.maxAttempts ?? 6;
  const baseDelayMs = options.retryBaseDelayMs ?? 2000;
  const sender =
    options.sender ??
    createPushSender(infra.config.push, {
      logger: log,
      // The log driver's record is the ledger row itself: `sent`, with what would have been pushed.
      record: (token, message) => recordPushes(orm.em.fork(), 'log', message, [{ token, outcome: 'sent' }]),
    });
  log.info({ pushProvider: sender.name }, 'notification worker starting');

  async function push(notification: Notification, deliveryCount: number): Promise<Settlement> {
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

  async function handle(request: NotificationRequest, deliveryCount: number) {
    const outcome = await notifications.record(orm.em.fork(), request);
    if (outcome.kind === 'invalid') return { kind: 'term', reason: outcome.reason } satisfies Settlement;
    const { notification, created } = outcome;
    if (created) {
      metrics.notificationsCreated.inc({ kind: notification.kind });
      live.publish('notification', notification.userId, toNotificationLive(notification));
    }
    return push(notification, deliveryCount);
  }

  const consumer = await runConsumer<NotificationRequest>({
    nats,
    log,
    metrics,
    maxDeliver: infra.config.queue.maxDeliver,
    stream: nats.names.streams.notifications,
    durable: options.durable ?? 'notifications',
    ackWaitMs: infra.config.queue.ackWaitMs,
    maxBatch: 16,
    isValid: isNotificationRequest,
    async handle(jobs) {
      // The same request twice in one batch is handled once, so its devices are not pushed twice.
      const byId = Map.groupBy(jobs, (job) => job.data.notificationId);
      await Promise.all(
        [...byId.values()].map(async (group) => {
          const first = group[0]!;
          const deliveryCount = Math.max(...group.map((j) => j.deliveryCount));
          let settlement: Settlement;
          try {
            settlement = await handle(first.data, deliveryCount);
          } catch (err) {
            // Left unsettled: runConsumer naks it for a retry.
            log.error({ err, notificationId: first.data.notificationId }, 'notification failed; will retry');
            return;
          }
          for (const job of group) {
            if (settlement.kind === 'ack') job.ack();
            else if (settlement.kind === 'nak') job.nak(settlement.delayMs);
            else job.term(settlement.reason);
          }
        }),
      );
    },
  });

  return { name: 'notifications', stop: () => consumer.stop() };
}
