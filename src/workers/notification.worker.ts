import type { Infra } from '../infra/infra.js';
import { createPushSender } from '../infra/push/create-push-sender.js';
import type { PushSender } from '../infra/push/push-sender.js';
import { runConsumer } from '../infra/queue-consumer.js';
import type { NotificationRequest } from '../services/messages/outbox.js';
import { NotificationDelivery, type Settlement } from '../services/notifications/notification-delivery.service.js';
import { isNotificationRequest, type NotificationService } from '../services/notifications/notification.service.js';
import { recordPushes } from '../services/notifications/push-delivery.repository.js';
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

/**
 * Delivers NotificationRequests (from the outbox, via the relay) with NotificationDelivery, in
 * batches; redeliveries are expected (JetStream is at-least-once, the relay may republish).
 */
export async function startNotificationWorker(
  infra: Infra,
  notifications: NotificationService,
  options: NotificationWorkerOptions = {},
): Promise<Worker> {
  const { orm, nats, metrics, live } = infra;
  const log = infra.log.child({ worker: 'notifications' });
  const sender =
    options.sender ??
    createPushSender(infra.config.push, {
      logger: log,
      // The log driver's record is the ledger row itself: `sent`, with what would have been pushed.
      record: (token, message) => recordPushes(orm.em.fork(), 'log', message, [{ token, outcome: 'sent' }]),
    });
  log.info({ pushProvider: sender.name }, 'notification worker starting');

  const delivery = new NotificationDelivery({
    orm,
    notifications,
    sender,
    live,
    metrics,
    log,
    maxAttempts: options.maxAttempts ?? 6,
    retryBaseDelayMs: options.retryBaseDelayMs ?? 2000,
  });

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
            settlement = await delivery.deliver(first.data, deliveryCount);
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
