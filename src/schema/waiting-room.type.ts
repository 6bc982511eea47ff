import { DateTimeResolver } from 'graphql-scalars';
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import type { QueuePassView, WaitingRoomView } from '../services/waiting-room/waiting-room.service.js';
import { QueueState } from '../services/waiting-room/waiting-room.rules.js';

registerEnumType(QueueState, { name: 'QueueState' });

@InputType()
export class WaitingRoomInput {
  @Field(() => Int, { defaultValue: 30, description: 'Joining opens this many minutes before the sale.' })
  opensMinutesBefore!: number;

  @Field(() => Int, {
    nullable: true,
    description: 'Admissions per second; unset, the rate follows what the booking pipeline decides in time.',
  })
  admitPerSecond?: number | null;

  @Field(() => Int, { defaultValue: 120, description: 'How long an admitted buyer may book.' })
  admissionSeconds!: number;
}

@ObjectType('WaitingRoom', { simpleResolvers: true, description: 'The queue in front of an event’s sale.' })
export class WaitingRoomType {
  @Field(() => DateTimeResolver)
  opensAt!: Date;

  @Field(() => Int, { description: 'Admissions per second now (configured, or derived from the pipeline).' })
  admitPerSecond!: number;

  @Field(() => Int)
  admissionSeconds!: number;

  @Field(() => Int)
  waiting!: number;

  @Field(() => Int)
  admitted!: number;
}

@ObjectType('QueuePass', { simpleResolvers: true, description: 'A buyer’s place in an event’s waiting room.' })
export class QueuePassType {
  @Field(() => ID)
  eventId!: string;

  @Field(() => QueueState)
  state!: QueueState;

  @Field(() => Int, {
    nullable: true,
    description: 'The fixed place (1-based); null until the pre-queue is shuffled at the sale start.',
  })
  position!: number | null;

  @Field(() => Int, { nullable: true, description: 'Places before this one still waiting; null before the shuffle.' })
  ahead!: number | null;

  @Field(() => Int, { nullable: true })
  estimatedWaitSeconds!: number | null;

  @Field(() => DateTimeResolver, { nullable: true, description: 'While ADMITTED: book before this.' })
  admittedUntil!: Date | null;

  @Field(() => String, {
    nullable: true,
    description:
      'While ADMITTED: a signed admission; passed to bookTicket as `admissionToken`, any gateway checks it without a round trip.',
  })
  admissionToken!: string | null;
}

export function toQueuePassType(view: QueuePassView): QueuePassType {
  return {
    eventId: view.eventId,
    state: view.state,
    position: view.position,
    ahead: view.ahead,
    estimatedWaitSeconds: view.estimatedWaitSeconds,
    admittedUntil: view.admittedUntil,
    admissionToken: view.admissionToken,
  };
}

export function toWaitingRoomType(view: WaitingRoomView): WaitingRoomType {
  return { ...view };
}
