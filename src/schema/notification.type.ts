import { DateTimeResolver } from 'graphql-scalars';
import { ArgsType, Field, ID, Int, ObjectType } from 'type-graphql';
import type { Notification } from '../entities/notification.entity.js';
import type { NotificationLive } from '../services/messages/live-topics.js';
import { PageInfo } from './page-info.type.js';

@ObjectType('Notification', { simpleResolvers: true })
export class NotificationType {
  @Field(() => ID)
  id!: string;

  // A String in the public contract (docs/contract.md), so new kinds do not break existing clients.
  @Field(() => String, { description: 'ORDER_SUCCEEDED, ORDER_CANCELLED, ORDER_REFUNDED or HOLD_EXPIRING.' })
  kind!: string;

  @Field(() => String)
  title!: string;

  @Field(() => String)
  body!: string;

  @Field(() => ID, { nullable: true })
  orderId!: string | null;

  @Field(() => DateTimeResolver)
  createdAt!: Date;

  @Field(() => DateTimeResolver, { nullable: true, description: 'Null until the owner marks it read.' })
  readAt!: Date | null;
}

@ObjectType({ simpleResolvers: true })
export class NotificationEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => NotificationType)
  node!: NotificationType;
}

@ObjectType({ simpleResolvers: true })
export class NotificationConnection {
  @Field(() => [NotificationEdge])
  edges!: NotificationEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;

  @Field(() => Int)
  totalCount!: number;
}

@ArgsType()
export class NotificationsArgs {
  @Field(() => Int, { nullable: true, defaultValue: 20 })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'The `endCursor` of the previous page.' })
  after?: string | null;
}

@ArgsType()
export class RegisterDeviceArgs {
  @Field(() => String, { description: 'The FCM registration token of this app install.' })
  token!: string;

  @Field(() => String, { nullable: true, description: '`android`, `ios` or `web`.' })
  platform?: string | null;
}

export function toNotificationType(n: Notification): NotificationType {
  return {
    id: n.id,
    kind: n.kind,
    title: n.title,
    body: n.body,
    orderId: n.orderId ?? null,
    createdAt: n.createdAt,
    readAt: n.readAt ?? null,
  };
}

export function liveToNotificationType(n: NotificationLive): NotificationType {
  return {
    id: n.id,
    kind: n.kind,
    title: n.title,
    body: n.body,
    orderId: n.orderId,
    createdAt: new Date(n.createdAt),
    readAt: n.readAt ? new Date(n.readAt) : null,
  };
}
