import type { HttpAnswer } from './load.js';

/** The GraphQL operations the benchmark's clients send, and how their answers are read. */

// The operations, as a client app would keep them: pre-built strings, variables spliced in.
const BOOK =
  'mutation Book($e: ID!, $k: String!) { bookTicket(eventId: $e, quantity: 1, idempotencyKey: $k) { id status reason } }';
const BOOKING = 'query Booking($id: ID!) { booking(id: $id) { id status reason } }';
const BOOKING_UPDATED = 'subscription Decided($id: ID!) { bookingUpdated(id: $id) { id status reason } }';
const EVENT =
  'query Event($id: ID!) { event(id: $id) { id title venue startsAt saleStartsAt price currency ticketsTotal ticketsAvailable maxPerUser status } }';
export const STOCK = 'subscription Stock($e: ID!) { stockChanged(eventId: $e) { eventId ticketsAvailable status at } }';
export const CREATE_EVENT =
  'mutation Create($input: CreateEventInput!) { createEvent(input: $input) { id ticketsTotal } }';

/** `{query, variables}` with the booking's event and key: one concatenation per attempt. */
export function bookPayload(eventId: string): (key: string) => string {
  const head = `{"query":${JSON.stringify(BOOK)},"variables":{"e":"${eventId}","k":"`;
  return (key) => `${head}${key}"}}`;
}
export const bookingPayload = (id: string) => `{"query":${JSON.stringify(BOOKING)},"variables":{"id":"${id}"}}`;
export const bookingUpdatedPayload = (id: string) =>
  `{"query":${JSON.stringify(BOOKING_UPDATED)},"variables":{"id":"${id}"}}`;
export const eventPayload = (id: string) => `{"query":${JSON.stringify(EVENT)},"variables":{"id":"${id}"}}`;

export interface BookingAnswer {
  id: string;
  status: 'QUEUED' | 'RESERVED' | 'REJECTED';
  reason: string | null;
}

export type Parsed = { booking: BookingAnswer } | { error: string };

export function parseBooking(field: 'bookTicket' | 'booking' | 'bookingUpdated', json: unknown): Parsed {
  const r = json as {
    data?: Record<string, BookingAnswer | null> | null;
    errors?: { message: string; extensions?: { code?: string } }[];
  };
  const booking = r.data?.[field];
  if (booking && !r.errors?.length) return { booking };
  const e = r.errors?.[0];
  return { error: e ? `${e.extensions?.code ?? 'ERROR'}: ${e.message}` : `no ${field} in answer` };
}

export function parseHttpBooking(field: 'bookTicket' | 'booking', answer: HttpAnswer): Parsed {
  try {
    return parseBooking(field, JSON.parse(answer.body));
  } catch {
    return { error: `HTTP ${answer.status}: ${answer.body.slice(0, 200)}` };
  }
}

/** The graphql-ws endpoint of a gateway. */
export function wsUrl(origin: string): string {
  return `${origin.replace(/^http/, 'ws')}/graphql`;
}
