import { DateTimeResolver } from 'graphql-scalars';
import { ArgsType, Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { OrderStatus, type Order } from '../entities/order.entity.js';
import { secondsLeft } from '../services/orders/order.service.js';
import { EventType } from './event.type.js';
import { PageInfo } from './page-info.type.js';

registerEnumType(OrderStatus, { name: 'OrderStatus' });

@ObjectType('Order', { simpleResolvers: true })
export class OrderType {
  @Field(() => ID)
  id!: string;

  /** Resolved by OrderResolver.event. */
  eventId!: string;

  @Field(() => EventType)
  event?: EventType;

  @Field(() => Int)
  quantity!: number;

  @Field(() => Int, { description: 'Total in minor units of `currency`.' })
  amount!: number;

  @Field(() => String)
  currency!: string;

  @Field(() => OrderStatus)
  status!: OrderStatus;

  @Field(() => DateTimeResolver, { description: 'End of the hold: pay before this or the tickets go back on sale.' })
  expiresAt!: Date;

  @Field(() => Int, { description: 'Seconds until the hold ends while it can still be paid; 0 otherwise.' })
  secondsLeft!: number;

  @Field(() => DateTimeResolver)
  createdAt!: Date;

  @Field(() => DateTimeResolver)
  updatedAt!: Date;
}

@ObjectType({ simpleResolvers: true })
export class OrderEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => OrderType)
  node!: OrderType;
}

@ObjectType({ simpleResolvers: true })
export class OrderConnection {
  @Field(() => [OrderEdge])
  edges!: OrderEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;

  @Field(() => Int)
  totalCount!: number;
}

@ArgsType()
export class MyOrdersArgs {
  @Field(() => Int, { nullable: true, defaultValue: 20 })
  first?: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;
}

export function toOrderType(order: Order, now = Date.now()): OrderType {
  return {
    id: order.id,
    eventId: order.eventId,
    quantity: order.quantity,
    amount: order.amount,
    currency: order.currency,
    status: order.status,
    expiresAt: order.expiresAt,
    secondsLeft: secondsLeft(order, now),
    createdAt: order.createdAt,
    updatedAt: order.updatedAt,
  };
}
