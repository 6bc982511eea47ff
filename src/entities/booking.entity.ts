import { Entity, PrimaryKey, Property, Unique } from '@mikro-orm/decorators/legacy';

export const BookingStatus = { QUEUED: 'QUEUED', RESERVED: 'RESERVED', REJECTED: 'REJECTED' } as const;
export type BookingStatus = (typeof BookingStatus)[keyof typeof BookingStatus];

export const BookingRejection = {
  SOLD_OUT: 'SOLD_OUT',
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  NOT_ON_SALE: 'NOT_ON_SALE',
  INVALID_QUANTITY: 'INVALID_QUANTITY',
  RATE_LIMITED: 'RATE_LIMITED',
  NOT_ADMITTED: 'NOT_ADMITTED',
} as const;
export type BookingRejection = (typeof BookingRejection)[keyof typeof BookingRejection];

/**
 * A booking attempt that a worker decided. The id is derived from (user, idempotency key), so a
 * redelivered or retried attempt lands on the same row and is decided exactly once.
 */
@Entity({ tableName: 'bookings' })
@Unique({ properties: ['userId', 'idempotencyKey'] })
export class Booking {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid' })
  userId!: string;

  @Property({ type: 'uuid' })
  eventId!: string;

  @Property({ type: 'integer' })
  quantity!: number;

  @Property({ type: 'text' })
  idempotencyKey!: string;

  @Property({ type: 'text' })
  status!: BookingStatus;

  @Property({ type: 'text', nullable: true })
  reason?: BookingRejection | null;

  @Property({ type: 'uuid', nullable: true })
  orderId?: string | null;

  /** When the gateway accepted the attempt. */
  @Property({ type: 'datetime', columnType: 'timestamptz' })
  requestedAt!: Date;

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  decidedAt!: Date;
}
