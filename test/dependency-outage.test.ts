import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BookTicketDocument,
  BookingDocument,
  CancelOrderDocument,
  EventDocument,
  EventsDocument,
  MeDocument,
  MyOrdersDocument,
  NotificationsDocument,
  OrderDocument,
  PayOrderDocument,
  RegisterDeviceDocument,
  SimulatePaymentDocument,
} from './generated/graphql.js';
import { ADMIN_EMAIL, createEvent, signUp } from './support/fixtures.js';
import { gql, gqlOk, startTestSystem, uniqueName, type GraphqlResponse, type TestSystem } from './support/system.js';
import { TcpProxy } from './support/tcp-proxy.js';

/** Every error code of an answer; an answer without errors is a success. */
function codes(res: GraphqlResponse<unknown>): unknown[] {
  return (res.errors ?? []).map((e) => e.extensions?.['code']);
}

describe('Postgres cut off from a running gateway', () => {
  let sys: TestSystem;
  let proxy: TcpProxy;
  let buyer: string;
  let eventId: string;
  let orderId: string;
  let bookingId: string;

  beforeAll(async () => {
    const configured = new URL(process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/ticketing');
    proxy = await TcpProxy.forUrl(configured.toString()).start();
    const url = new URL(proxy.rewrite(configured.toString()));
    url.pathname = `/${uniqueName('outage')}`;
    sys = await startTestSystem({ DATABASE_URL: url.toString(), BOOKING_WAIT_MS: '5000' });
    const admin = (await signUp(sys, ADMIN_EMAIL)).token;
    buyer = (await signUp(sys)).token;
    eventId = (await createEvent(sys, admin, { ticketsTotal: 10 })).id;
    const { bookTicket } = await gqlOk(sys.url, BookTicketDocument, { eventId, idempotencyKey: 'outage-1' }, buyer);
    bookingId = bookTicket.id;
    orderId = bookTicket.order!.id;
  });
  afterAll(async () => {
    proxy.up();
    await sys.stop();
    await proxy.stop();
  });

  it('answers UNAVAILABLE, never INTERNAL_SERVER_ERROR, on every operation that needs Postgres', async () => {
    proxy.down();
    const answers: Record<string, GraphqlResponse<unknown>> = {
      payOrder: await gql(sys.url, PayOrderDocument, { orderId }, buyer),
      simulatePayment: await gql(sys.url, SimulatePaymentDocument, { orderId, outcome: 'SUCCEED' as never }, buyer),
      cancelOrder: await gql(sys.url, CancelOrderDocument, { orderId }, buyer),
      booking: await gql(sys.url, BookingDocument, { id: bookingId }, buyer),
      order: await gql(sys.url, OrderDocument, { id: orderId }, buyer),
      myOrders: await gql(sys.url, MyOrdersDocument, {}, buyer),
      notifications: await gql(sys.url, NotificationsDocument, {}, buyer),
      me: await gql(sys.url, MeDocument, {}, buyer),
      events: await gql(sys.url, EventsDocument, { query: 'nothing cached', first: 3 }),
      event: await gql(sys.url, EventDocument, { id: randomUUID() }),
      registerDevice: await gql(sys.url, RegisterDeviceDocument, { token: 'device-token-for-the-outage-test', platform: 'android' }, buyer),
      bookTicket: await gql(sys.url, BookTicketDocument, { eventId, idempotencyKey: 'outage-1' }, buyer),
    };
    const internal = Object.entries(answers).filter(([, res]) => codes(res).includes('INTERNAL_SERVER_ERROR'));
    expect(internal.map(([name]) => name)).toEqual([]);
    for (const [name, res] of Object.entries(answers)) {
      // A cached page may still be served; anything that failed failed as UNAVAILABLE.
      expect({ name, codes: codes(res).filter((c) => c !== 'UNAVAILABLE') }).toEqual({ name, codes: [] });
    }
    expect(codes(answers['payOrder']!)).toEqual(['UNAVAILABLE']);
    expect(codes(answers['simulatePayment']!)).toEqual(['UNAVAILABLE']);
    expect(codes(answers['order']!)).toEqual(['UNAVAILABLE']);
  });
});
