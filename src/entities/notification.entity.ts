import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

export const NotificationKind = {
  ORDER_SUCCEEDED: 'ORDER_SUCCEEDED',
  ORDER_CANCELLED: 'ORDER_CANCELLED',
  ORDER_REFUNDED: 'ORDER_REFUNDED',
  HOLD_EXPIRING: 'HOLD_EXPIRING',
} as const;
export type NotificationKind = (typeof NotificationKind)[keyof typeof NotificationKind];

/** A message in a user's inbox. The id is derived from (order, kind), so it is created once. */
@Entity({ tableName: 'notifications' })
@Index({ properties: ['userId', 'createdAt', 'id'] })
export class Notification {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid' })
  userId!: string;

  @Property({ type: 'text' })
  kind!: NotificationKind;

  @Property({ type: 'text' })
  title!: string;

  @Property({ type: 'text' })
  body!: string;

  @Property({ type: 'uuid', nullable: true })
  orderId?: string | null;

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Date;

  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  readAt?: Date | null;
}
