import type { PubAck } from '@nats-io/jetstream';
import type { BookingRecord } from '../../infra/booking-registry.js';
import type { Nats } from '../../infra/nats.js';
import type { BookingRequest } from '../messages/queue-messages.js';

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
  return nats.js.publish(nats.names.jobs.bookingRequested(record.eventId), JSON.stringify(request), { msgID: msgId });
}
