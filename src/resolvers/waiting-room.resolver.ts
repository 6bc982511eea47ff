import { Arg, Authorized, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { RequestContext } from '../context.js';
import type { SubscriptionContext } from '../services/live-feeds.js';
import type { QueuePassView, WaitingRoomService } from '../services/waiting-room/waiting-room.service.js';
import { EventType } from '../schema/event.type.js';
import { QueuePassType, WaitingRoomType, toQueuePassType, toWaitingRoomType } from '../schema/waiting-room.type.js';

@Resolver(() => EventType)
export class WaitingRoomResolver {
  constructor(private readonly rooms: WaitingRoomService) {}

  @FieldResolver(() => WaitingRoomType, {
    nullable: true,
    description: 'The queue in front of the sale, if it has one.',
  })
  async waitingRoom(@Root() event: EventType): Promise<WaitingRoomType | null> {
    const view = await this.rooms.roomView(event.id);
    return view ? toWaitingRoomType(view) : null;
  }

  @Authorized()
  @Mutation(() => QueuePassType, {
    description:
      'Joins the event’s waiting room; joining again returns the same pass (after EXPIRED: a new place at the back).',
  })
  async joinWaitingRoom(@Ctx() ctx: RequestContext, @Arg('eventId', () => ID) eventId: string): Promise<QueuePassType> {
    return toQueuePassType(await this.rooms.join(ctx, eventId));
  }

  @Authorized()
  @Query(() => QueuePassType, { nullable: true, description: 'Your pass for the event’s waiting room, if you joined.' })
  async queuePass(
    @Ctx() ctx: RequestContext,
    @Arg('eventId', () => ID) eventId: string,
  ): Promise<QueuePassType | null> {
    const view = await this.rooms.get(ctx, eventId);
    return view ? toQueuePassType(view) : null;
  }

  @Authorized()
  @Subscription(() => QueuePassType, {
    description: 'Your pass now, then every change of its state at once and of its place at most once a second.',
    subscribe: ({ args, context }) =>
      (context as SubscriptionContext).feeds.queuePass(
        context as RequestContext,
        (args as { eventId: string }).eventId,
      ),
  })
  queuePassUpdated(@Arg('eventId', () => ID) _eventId: string, @Root() view: QueuePassView): QueuePassType {
    return toQueuePassType(view);
  }
}
