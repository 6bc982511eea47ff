import { Arg, Args, Authorized, Ctx, ID, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { RequestContext } from '../context.js';
import type { SubscriptionContext } from '../services/live-feeds.js';
import { UserRole } from '../entities/user.entity.js';
import type { EventService } from '../services/events/event.service.js';
import type { EventView } from '../services/events/event.service.js';
import {
  CreateEventInput,
  EventConnection,
  EventsArgs,
  EventType,
  StockUpdate,
  toEventType,
  toStockUpdate,
} from '../schema/event.type.js';
import { toConnection } from '../schema/page-info.type.js';

@Resolver()
export class EventResolver {
  constructor(private readonly eventService: EventService) {}

  @Query(() => EventConnection, {
    description: 'Upcoming events by start time; with `query`, keyword search ranked by relevance.',
  })
  async events(@Ctx() ctx: RequestContext, @Args(() => EventsArgs) args: EventsArgs): Promise<EventConnection> {
    const page = await this.eventService.list(ctx, args);
    const now = Date.now();
    return toConnection(page, (view) => toEventType(view, now));
  }

  @Query(() => EventType, { nullable: true })
  async event(@Ctx() ctx: RequestContext, @Arg('id', () => ID) id: string): Promise<EventType | null> {
    const view = await this.eventService.get(ctx, id);
    return view ? toEventType(view) : null;
  }

  @Authorized(UserRole.ADMIN)
  @Mutation(() => EventType, { description: 'ADMIN only.' })
  async createEvent(
    @Ctx() ctx: RequestContext,
    @Arg('input', () => CreateEventInput) input: CreateEventInput,
  ): Promise<EventType> {
    return toEventType(await this.eventService.create(ctx, input));
  }

  @Subscription(() => StockUpdate, {
    description:
      'The live ticket count of an event: the current one, then changes (a few per second at most, always the last).',
    subscribe: ({ args, context }) =>
      (context as SubscriptionContext).feeds.stock(context as RequestContext, (args as { eventId: string }).eventId),
  })
  stockChanged(@Arg('eventId', () => ID) _eventId: string, @Root() view: EventView & { at: Date }): StockUpdate {
    return toStockUpdate(view);
  }
}
