import type { PubAck } from '@nats-io/jetstream';
import type { BookingRecord } from '../../infra/booking-registry.js';
import { publishJob, type Nats } from '../../infra/nats.js';
import type { BookingRequest, HoldExpiryJob } from '../messages/queue-messages.js';

/**
 * Queues a recorded attempt for the booking workers. `msgId` is the booking id for the gateway's
 * publish (JetStream drops a re-sent copy) and a fresh one when the sweep deliberately queues it again.
 */
export function queueBooking(nats: Nats, record: BookingRecord, msgId: string): Promise<PubAck> {
  const request: BookingRequest = {
    bookingId: record.bookingId,
    userId: record.userId,
    eventId: record.eventId,
    quantity: record.quantity,
    idempotencyKey: record.idempotencyKey,
    requestedAt: record.requestedAt,
  };
  return publishJob(nats, nats.names.jobs.bookingRequested(record.eventId), request, msgId);
}

/**
 * Queues the delayed expiry job of orders reserved together (one booking batch, one hold end).
 * The message id is the first order's, so a repeat after a crash is dropped by JetStream.
 */
export async function queueHoldExpiry(nats: Nats, hold: { orderIds: string[]; expiresAt: Date }): Promise<void> {
  const job: HoldExpiryJob = { orderIds: hold.orderIds, expiresAt: hold.expiresAt.toISOString() };
  await publishJob(nats, nats.names.jobs.holdExpiry, job, `hold-${job.orderIds[0]}`);
}
