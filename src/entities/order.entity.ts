import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

export const OrderStatus = {
  UNPAID: 'UNPAID',
  PAYING: 'PAYING',
  CANCELLED: 'CANCELLED',
  SUCCEEDED: 'SUCCEEDED',
  FAILED: 'FAILED',
  REFUNDED: 'REFUNDED',
} as const;
export type OrderStatus = (typeof OrderStatus)[keyof typeof OrderStatus];

@Entity({ tableName: 'orders' })
@Index({ properties: ['userId', 'createdAt', 'id'] })
export class Order {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid', unique: true })
  bookingId!: string;

  @Property({ type: 'uuid' })
  userId!: string;

  @Property({ type: 'uuid', index: true })
  eventId!: string;

  @Property({ type: 'integer' })
  quantity!: number;

  /** Total in minor units of `currency`: quantity × the event's price at booking time. */
  @Property({ type: 'integer' })
  amount!: number;

  @Property({ type: 'character', length: 3 })
  currency!: string;

  @Property({ type: 'text' })
  status!: OrderStatus;

  /** End of the hold, set from Postgres `now()` so no worker's clock decides expiry. */
  @Property({ type: 'datetime', columnType: 'timestamptz' })
  expiresAt!: Date;

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Date;

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  updatedAt!: Date;
}
