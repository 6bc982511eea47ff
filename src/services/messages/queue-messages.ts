import { z } from 'zod';

/**
 * The JetStream messages between processes: their schemas, so a consumer can tell a well-formed
 * message from poison. Messages carry ids; consumers re-read state before acting on them.
 */

/** A booking attempt accepted by a gateway, decided by a booking worker. */
export const BookingRequest = z.object({
  bookingId: z.uuid(),
  userId: z.uuid(),
  eventId: z.uuid(),
  quantity: z.number().int().min(1),
  idempotencyKey: z.string().min(1),
  /** When the gateway accepted it (ISO); decision latency is measured from here. */
  requestedAt: z.iso.datetime(),
});
export type BookingRequest = z.infer<typeof BookingRequest>;

/**
 * Orders reserved together (one booking batch) share one hold end; the expiry worker cancels those
 * still unpaid when it passes. A delayed job: redelivered until it is due.
 */
export const HoldExpiryJob = z.object({
  orderIds: z.array(z.uuid()).min(1),
  expiresAt: z.iso.datetime(),
});
export type HoldExpiryJob = z.infer<typeof HoldExpiryJob>;

/** A verified provider event stored in webhook_events, to be applied by the payment worker (it re-reads the row). */
export const PaymentEventJob = z.object({
  eventId: z.string().min(1).max(255),
});
export type PaymentEventJob = z.infer<typeof PaymentEventJob>;

export function isValid<T>(schema: z.ZodType<T>) {
  return (data: unknown): data is T => schema.safeParse(data).success;
}
