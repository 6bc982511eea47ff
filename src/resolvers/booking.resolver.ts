import {
  Arg,
  Args,
  Authorized,
  Ctx,
  FieldResolver,
  ID,
  Mutation,
  Query,
  Resolver,
  Root,
  Subscription,
} from 'type-graphql';
import type { RequestContext } from '../context.js';
import type { SubscriptionContext } from '../services/live-feeds.js';
import type { BookingService, BookingView } from '../services/booking/booking.service.js';
import type { EventService } from '../services/events/event.service.js';
import type { OrderService } from '../services/orders/order.service.js';
import { BookTicketArgs, BookingType, toBookingType } from '../schema/booking.type.js';
import { EventType, toEventType } from '../schema/event.type.js';
import { OrderType, toOrderType } from '../schema/order.type.js';

@Resolver(() => BookingType)
export class BookingResolver {
  constructor(
    private readonly bookings: BookingService,
    private readonly events: EventService,
    private readonly orders: OrderService,
  ) {}

  @Authorized()
  @Mutation(() => BookingType, {
    description:
      'Books tickets: the decision if it comes within BOOKING_WAIT_MS, else QUEUED (follow it with booking or bookingUpdated).',
  })
  async bookTicket(@Ctx() ctx: RequestContext, @Args(() => BookTicketArgs) args: BookTicketArgs): Promise<BookingType> {
    return toBookingType(await this.bookings.book(ctx, args));
  }

  @Authorized()
  @Query(() => BookingType, { nullable: true, description: 'One of your bookings.' })
  async booking(@Ctx() ctx: RequestContext, @Arg('id', () => ID) id: string): Promise<BookingType | null> {
    const view = await this.bookings.get(ctx, id);
    return view ? toBookingType(view) : null;
  }

  @Authorized()
  @Subscription(() => BookingType, {
    description: 'The booking now, then its decision; completes once decided.',
    subscribe: ({ args, context }) =>
      (context as SubscriptionContext).feeds.booking(context as RequestContext, (args as { id: string }).id),
  })
  bookingUpdated(@Arg('id', () => ID) _id: string, @Root() view: BookingView): BookingType {
    return toBookingType(view);
  }

  @FieldResolver(() => OrderType, { nullable: true })
  async order(@Ctx() ctx: RequestContext, @Root() booking: BookingType): Promise<OrderType | null> {
    if (!booking.orderId) return null;
    const order = await this.orders.get(ctx, booking.orderId);
    return order ? toOrderType(order) : null;
  }

  @FieldResolver(() => EventType)
  async event(@Ctx() ctx: RequestContext, @Root() booking: BookingType): Promise<EventType> {
    const view = await this.events.get(ctx, booking.eventId);
    return toEventType(view!);
  }
}
