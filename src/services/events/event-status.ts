import type { Event } from '../../entities/event.entity.js';

export const EventStatus = {
  SCHEDULED: 'SCHEDULED',
  ON_SALE: 'ON_SALE',
  SOLD_OUT: 'SOLD_OUT',
  ENDED: 'ENDED',
} as const;
export type EventStatus = (typeof EventStatus)[keyof typeof EventStatus];

/**
 * Where an event stands: the sale runs from `saleStartsAt` until the event starts; in between it is
 * sold out while no ticket is available (tickets can come back when a hold expires).
 */
export function eventStatus(
  event: Pick<Event, 'saleStartsAt' | 'startsAt'>,
  available: number,
  now: number = Date.now(),
): EventStatus {
  if (now >= event.startsAt.getTime()) return EventStatus.ENDED;
  if (now < event.saleStartsAt.getTime()) return EventStatus.SCHEDULED;
  return available > 0 ? EventStatus.ON_SALE : EventStatus.SOLD_OUT;
}
