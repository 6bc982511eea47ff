import { DateTimeResolver } from 'graphql-scalars';
import { Field, Float, ID, Int, ObjectType } from 'type-graphql';
import { OrderStatus } from '../entities/order.entity.js';
import type { SaleStatsView } from '../services/events/sale-stats.service.js';
import './order.type.js'; // registers the OrderStatus enum

@ObjectType({ simpleResolvers: true })
export class OrderStatusCount {
  @Field(() => OrderStatus)
  status!: OrderStatus;

  @Field(() => Int)
  count!: number;
}

@ObjectType({ simpleResolvers: true, description: 'One second of a sale.' })
export class SalePoint {
  @Field(() => DateTimeResolver, { description: 'Start of the second.' })
  at!: Date;

  @Field(() => Int, { description: 'Orders created (tickets reserved) in this second.' })
  reservations!: number;

  @Field(() => Int, { description: 'Orders paid in this second.' })
  payments!: number;
}

@ObjectType({ simpleResolvers: true, description: "An event's sale as an operator watches it." })
export class SaleStats {
  @Field(() => ID)
  eventId!: string;

  @Field(() => Int)
  ticketsTotal!: number;

  @Field(() => Int)
  ticketsLeft!: number;

  @Field(() => Float, { description: 'Orders created per second, averaged over the last 10 seconds.' })
  reservationsPerSecond!: number;

  @Field(() => Float, { description: 'Orders paid per second, averaged over the last 10 seconds.' })
  paymentsPerSecond!: number;

  @Field(() => [OrderStatusCount], { description: 'Every order status with its count (zero included).' })
  ordersByStatus!: OrderStatusCount[];

  @Field(() => Int, { description: 'Booking attempts waiting for a worker decision.' })
  queueLength!: number;

  @Field(() => DateTimeResolver, { description: 'When these numbers were read (database time).' })
  at!: Date;

  @Field(() => [SalePoint], { description: 'The last 60 seconds, one point a second, oldest first.' })
  timeline!: SalePoint[];
}

export function toSaleStats(view: SaleStatsView): SaleStats {
  return Object.assign(new SaleStats(), view);
}
