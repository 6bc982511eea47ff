import { ArgsType, Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { BookingRejection, BookingStatus } from '../entities/booking.entity.js';
import type { BookingView } from '../services/booking/booking.service.js';
import { EventType } from './event.type.js';
import { OrderType } from './order.type.js';

registerEnumType(BookingStatus, { name: 'BookingStatus' });
registerEnumType(BookingRejection, { name: 'BookingRejection' });

@ObjectType('Booking', {
  simpleResolvers: true,
  description:
    'A booking attempt: QUEUED until a worker decides, then RESERVED (with its order) or REJECTED (with a reason).',
})
export class BookingType {
  @Field(() => ID)
  id!: string;

  @Field(() => BookingStatus)
  status!: BookingStatus;

  @Field(() => BookingRejection, { nullable: true })
  reason!: BookingRejection | null;

  @Field(() => Int)
  quantity!: number;

  /** Resolved by BookingResolver.order. */
  orderId!: string | null;

  @Field(() => OrderType, { nullable: true })
  order?: OrderType | null;

  /** Resolved by BookingResolver.event. */
  eventId!: string;

  @Field(() => EventType)
  event?: EventType;
}

@ArgsType()
export class BookTicketArgs {
  @Field(() => ID)
  eventId!: string;

  @Field(() => Int, { nullable: true, defaultValue: 1 })
  quantity?: number | null;

  @Field(() => String, {
    description: 'Chosen by the client per purchase intent; a retry with the same key returns the same booking.',
  })
  idempotencyKey!: string;

  @Field(() => String, {
    nullable: true,
    description:
      'For an event with a waiting room: your QueuePass.admissionToken (optional; it saves the gateway a lookup).',
  })
  admissionToken?: string | null;
}

export function toBookingType(view: BookingView): BookingType {
  return {
    id: view.id,
    status: view.status,
    reason: view.reason,
    quantity: view.quantity,
    orderId: view.orderId,
    eventId: view.eventId,
  };
}
