import type { RequestContext } from '../context.js';
import type { BookingService, BookingView } from './booking/booking.service.js';
import type { EventService, EventView } from './events/event.service.js';
import type { NotificationLive } from './messages/live-topics.js';
import type { NotificationService } from './notifications/notification.service.js';
import type { Order } from '../entities/order.entity.js';
import type { CountdownView, OrderService } from './orders/order.service.js';
import type { QueuePassView, WaitingRoomService } from './waiting-room/waiting-room.service.js';

/**
 * The sources of GraphQL subscriptions. type-graphql's `subscribe` functions are static, so they
 * reach these through the request context; each one is a service method underneath.
 */
export interface LiveFeeds {
  stock(ctx: RequestContext, eventId: string): Promise<AsyncIterableIterator<EventView & { at: Date }>>;
  booking(ctx: RequestContext, bookingId: string): AsyncIterableIterator<BookingView>;
  notifications(ctx: RequestContext): AsyncIterableIterator<NotificationLive>;
  order(ctx: RequestContext, orderId: string): AsyncIterableIterator<Order>;
  countdown(ctx: RequestContext, orderId: string): AsyncIterableIterator<CountdownView>;
  queuePass(ctx: RequestContext, eventId: string): AsyncIterableIterator<QueuePassView>;
}

/**
 * The request context as GraphQL operations get it: it also carries the feeds, so that static
 * subscribe functions reach them. Apart from RequestContext, which services take, because the
 * feeds are built from the services.
 */
export interface SubscriptionContext extends RequestContext {
  readonly feeds: LiveFeeds;
}

export function createLiveFeeds(services: {
  events: EventService;
  bookings: BookingService;
  notifications: NotificationService;
  orders: OrderService;
  waitingRoom: WaitingRoomService;
}): LiveFeeds {
  return {
    notifications: (ctx) => services.notifications.received(ctx),
    stock: (ctx, eventId) => services.events.stockUpdates(ctx, eventId),
    booking: (ctx, bookingId) => services.bookings.updates(ctx, bookingId),
    order: (ctx, orderId) => services.orders.updates(ctx, orderId),
    countdown: (ctx, orderId) => services.orders.countdown(ctx, orderId),
    queuePass: (ctx, eventId) => services.waitingRoom.updates(ctx, eventId),
  };
}
