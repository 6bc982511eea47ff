import { Arg, Args, Authorized, Ctx, FieldResolver, ID, Query, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../context.js';
import type { EventService } from '../services/event.service.js';
import type { OrderService } from '../services/order.service.js';
import { EventType, toEventType } from '../schema/event.type.js';
import { MyOrdersArgs, OrderConnection, OrderType, toOrderType } from '../schema/order.type.js';
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

  @FieldResolver(() => EventType)
  async event(@Ctx() ctx: RequestContext, @Root() order: OrderType): Promise<EventType> {
    const view = await this.events.get(ctx, order.eventId);
    return toEventType(view!);
  }
}
