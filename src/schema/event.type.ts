import { DateTimeResolver } from 'graphql-scalars';
import { ArgsType, Extensions, Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { EventStatus, eventStatus } from '../services/events/event-status.js';
import type { EventView } from '../services/events/event.service.js';
import { MULTILINE } from './argument-guard.js';
import { PageInfo } from './page-info.type.js';
import { WaitingRoomInput } from './waiting-room.type.js';

registerEnumType(EventStatus, { name: 'EventStatus' });

@ObjectType('Event', { simpleResolvers: true })
export class EventType {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  title!: string;

  @Field(() => String)
  description!: string;

  @Field(() => String)
  venue!: string;

  @Field(() => DateTimeResolver)
  startsAt!: Date;

  @Field(() => DateTimeResolver, { description: 'The sale opens here and runs until the event starts.' })
  saleStartsAt!: Date;

  @Field(() => Int, { description: 'Price of one ticket in minor units of `currency` (cents).' })
  price!: number;

  @Field(() => String, { description: 'ISO 4217 code, e.g. "USD".' })
  currency!: string;

  @Field(() => Int)
  ticketsTotal!: number;

  @Field(() => Int)
  ticketsAvailable!: number;

  @Field(() => Int)
  maxPerUser!: number;

  @Field(() => EventStatus)
  status!: EventStatus;
}

@ObjectType({ simpleResolvers: true })
export class EventEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => EventType)
  node!: EventType;
}

@ObjectType({ simpleResolvers: true })
export class EventConnection {
  @Field(() => [EventEdge])
  edges!: EventEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;

  @Field(() => Int)
  totalCount!: number;
}

@InputType()
export class CreateEventInput {
  @Field(() => String)
  title!: string;

  @Field(() => String)
  @Extensions(MULTILINE)
  description!: string;

  @Field(() => String)
  venue!: string;

  @Field(() => DateTimeResolver)
  startsAt!: Date;

  @Field(() => DateTimeResolver)
  saleStartsAt!: Date;

  @Field(() => Int, { description: 'Minor units (cents).' })
  price!: number;

  @Field(() => String, { defaultValue: 'USD' })
  currency!: string;

  @Field(() => Int)
  ticketsTotal!: number;

  @Field(() => Int, { defaultValue: 4 })
  maxPerUser!: number;

  @Field(() => WaitingRoomInput, { nullable: true, description: 'A queue in front of the sale; absent: none.' })
  waitingRoom?: WaitingRoomInput | null;
}

@ArgsType()
export class EventsArgs {
  @Field(() => String, { nullable: true, description: 'Keywords; results are ranked by relevance.' })
  query?: string | null;

  @Field(() => Int, { nullable: true, defaultValue: 20 })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'The `endCursor` of the previous page.' })
  after?: string | null;

  @Field(() => Boolean, { nullable: true, defaultValue: false, description: 'Also list events that have started.' })
  includeEnded?: boolean | null;
}

@ObjectType({ simpleResolvers: true })
export class StockUpdate {
  @Field(() => ID)
  eventId!: string;

  @Field(() => Int)
  ticketsAvailable!: number;

  @Field(() => EventStatus)
  status!: EventStatus;

  @Field(() => DateTimeResolver)
  at!: Date;
}

export function toStockUpdate(view: EventView & { at: Date }): StockUpdate {
  return {
    eventId: view.event.id,
    ticketsAvailable: view.available,
    status: eventStatus(view.event, view.available, view.at.getTime()),
    at: view.at,
  };
}

export function toEventType({ event, available }: EventView, now = Date.now()): EventType {
  return {
    id: event.id,
    title: event.title,
    description: event.description,
    venue: event.venue,
    startsAt: event.startsAt,
    saleStartsAt: event.saleStartsAt,
    price: event.price,
    currency: event.currency,
    ticketsTotal: event.ticketsTotal,
    ticketsAvailable: available,
    maxPerUser: event.maxPerUser,
    status: eventStatus(event, available, now),
  };
}
