import { Arg, Args, Authorized, Ctx, FieldResolver, ID, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { RequestContext } from '../context.js';
import type { SubscriptionContext } from '../services/live-feeds.js';
import type { EventService } from '../services/events/event.service.js';
import type { Order } from '../entities/order.entity.js';
import type { CountdownView, OrderService } from '../services/orders/order.service.js';
import { EventType, toEventType } from '../schema/event.type.js';
import { MyOrdersArgs, OrderConnection, OrderType, toOrderType } from '../schema/order.type.js';
import { CountdownType, toCountdownType } from '../schema/payment.type.js';
import { toConnection } from '../schema/page-info.type.js';

@Resolver(() => OrderType)
export class OrderResolver {
  constructor(
    private readonly orders: OrderService,
    private readonly events: EventService,
  ) {}

  @Authorized()
  @Query(() => OrderType, { nullable: true, description: 'One of your orders.' })
  async order(@Ctx() ctx: RequestContext, @Arg('id', () => ID) id: string): Promise<OrderType | null> {
    const order = await this.orders.get(ctx, id);
    return order ? toOrderType(order) : null;
  }

  @Authorized()
  @Query(() => OrderConnection, { description: 'Your orders, newest first.' })
  async myOrders(@Ctx() ctx: RequestContext, @Args(() => MyOrdersArgs) args: MyOrdersArgs): Promise<OrderConnection> {
    const page = await this.orders.list(ctx, args);
    const now = Date.now();
    return toConnection(page, (order) => toOrderType(order, now));
  }

  @Authorized()
  @Subscription(() => OrderType, {
    description: 'One of your orders now, then again after every status change.',
    subscribe: ({ args, context }) =>
      (context as SubscriptionContext).feeds.order(context as RequestContext, (args as { id: string }).id),
  })
  orderUpdated(@Arg('id', () => ID) _id: string, @Root() order: Order): OrderType {
    return toOrderType(order);
  }

  @Authorized()
  @Subscription(() => CountdownType, {
    description:
      'A tick a second with the seconds left to pay; when the order leaves UNPAID/PAYING/FAILED, its final status, then complete.',
    subscribe: ({ args, context }) =>
      (context as SubscriptionContext).feeds.countdown(
        context as RequestContext,
        (args as { orderId: string }).orderId,
      ),
  })
  paymentCountdown(@Arg('orderId', () => ID) _orderId: string, @Root() view: CountdownView): CountdownType {
    return toCountdownType(view);
  }

  @FieldResolver(() => EventType)
  async event(@Ctx() ctx: RequestContext, @Root() order: OrderType): Promise<EventType> {
    const view = await this.events.get(ctx, order.eventId);
    return toEventType(view!);
  }
}
