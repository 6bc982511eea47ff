import {
  Arg,
  Args,
  Authorized,
  Ctx,
  ID,
  Mutation,
  Query,
  Resolver,
  Root,
  Subscription,
  UseMiddleware,
} from 'type-graphql';
import type { RequestContext } from '../context.js';
import type { SubscriptionContext } from '../services/live-feeds.js';
import { CurrentSession } from './current-session.middleware.js';
import type { NotificationLive } from '../services/messages/live-topics.js';
import type { NotificationService } from '../services/notifications/notification.service.js';
import {
  NotificationConnection,
  NotificationType,
  NotificationsArgs,
  RegisterDeviceArgs,
  liveToNotificationType,
  toNotificationType,
} from '../schema/notification.type.js';
import { toConnection } from '../schema/page-info.type.js';

@Resolver()
export class NotificationResolver {
  constructor(private readonly notificationService: NotificationService) {}

  @Authorized()
  @Query(() => NotificationConnection, { description: 'The signed-in user’s notifications, newest first.' })
  async notifications(
    @Ctx() ctx: RequestContext,
    @Args(() => NotificationsArgs) args: NotificationsArgs,
  ): Promise<NotificationConnection> {
    return toConnection(await this.notificationService.list(ctx, args), toNotificationType);
  }

  @Authorized()
  @Mutation(() => NotificationType, { description: 'Idempotent; only the owner’s notifications (else NOT_FOUND).' })
  async markNotificationRead(@Ctx() ctx: RequestContext, @Arg('id', () => ID) id: string): Promise<NotificationType> {
    return toNotificationType(await this.notificationService.markRead(ctx, id));
  }

  @Authorized()
  @UseMiddleware(CurrentSession)
  @Mutation(() => Boolean, {
    description: 'Registers this device for mobile push; idempotent. A token moves to the user who registers it last.',
  })
  async registerDevice(@Ctx() ctx: RequestContext, @Args(() => RegisterDeviceArgs) args: RegisterDeviceArgs) {
    return this.notificationService.registerDevice(ctx, args);
  }

  // The subscribe function is static, so it reaches the live bus through the request context.
  @Authorized()
  @Subscription(() => NotificationType, {
    description: 'The signed-in user’s new notifications, live; the inbox (`notifications`) is the record.',
    subscribe: ({ context }) => (context as SubscriptionContext).feeds.notifications(context as SubscriptionContext),
  })
  notificationReceived(@Root() payload: NotificationLive): NotificationType {
    return liveToNotificationType(payload);
  }
}
