import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import type { App } from '../../src/app.js';
import { BookTicketDocument, BookingDocument } from '../generated/graphql.js';
import { eventually, gqlOk, type TestSystem } from './system.js';

/**
 * Orders made the way buyers make them (bookTicket through the real pipeline), and Stripe events
 * signed the way Stripe signs them, for the payment tests.
 */

/** Books through the API and returns the reserved order's id; fails the test if not reserved. */
export async function bookOrder(sys: TestSystem, token: string, eventId: string, quantity = 1): Promise<string> {
  const booking = await book(sys, token, eventId, quantity);
  if (booking.status !== 'RESERVED' || !booking.order) {
    throw new Error(`expected a reservation, got ${JSON.stringify(booking)}`);
  }
  return booking.order.id;
}

/** Books through the API and waits for the decision. */
export async function book(sys: TestSystem, token: string, eventId: string, quantity = 1) {
  const { bookTicket } = await gqlOk(
    sys.url,
    BookTicketDocument,
    { eventId, quantity, idempotencyKey: randomBytes(6).toString('hex') },
    token,
  );
  if (bookTicket.status !== 'QUEUED') return bookTicket;
  return eventually(async () => {
    const { booking } = await gqlOk(sys.url, BookingDocument, { id: bookTicket.id }, token);
    return booking && booking.status !== 'QUEUED' ? booking : undefined;
  });
}

/** Plain SQL against the system's database. */
export function sql<T = Record<string, unknown>>(app: App, query: string, params: unknown[] = []): Promise<T[]> {
  return app.infra.orm.em.fork().execute<T[]>(query, params);
}

export async function orderStatus(app: App, orderId: string): Promise<string> {
  const [row] = await sql<{ status: string }>(app, `select status from orders where id = ?`, [orderId]);
  if (!row) throw new Error(`order ${orderId} does not exist`);
  return row.status;
}

/**
 * The orders' statuses (in the order of `orderIds`) and how many of their stored Stripe events are
 * still unapplied, read in one statement and so from one snapshot. Read apart, an event applied
 * between the two reads (money for a cancelled order: CANCELLED → SUCCEEDED) would pair a status
 * from before it with a count from after it, and an order still moving would look settled.
 */
export async function orderSettlement(
  app: App,
  orderIds: readonly string[],
): Promise<{ statuses: string[]; unappliedEvents: number }> {
  const rows = await sql<{ id: string; status: string; unapplied: string }>(
    app,
    `select o.id, o.status,
       (select count(*) from payments p
        join webhook_events w on w.payload->'data'->'object'->>'id' = p.intent_id
        where p.order_id = o.id and w.processed_at is null) as unapplied
     from orders o where o.id in (?)`,
    [[...orderIds]],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  return {
    statuses: orderIds.map((id) => byId.get(id)?.status ?? 'MISSING'),
    unappliedEvents: rows.reduce((n, r) => n + Number(r.unapplied), 0),
  };
}

/** Waits until the order has `status` in Postgres. */
export function orderReaches(app: App, orderId: string, status: string, timeoutMs = 10_000): Promise<true> {
  return eventually(
    async () => ((await orderStatus(app, orderId)) === status ? true : undefined),
    timeoutMs,
    `order ${orderId} ${status}`,
  );
}

export async function paymentOf(app: App, orderId: string) {
  const [row] = await sql<{ intent_id: string; status: string; refund_id: string | null; provider: string }>(
    app,
    `select intent_id, status, refund_id, provider from payments where order_id = ?`,
    [orderId],
  );
  return row;
}

export async function webhookEvent(app: App, eventId: string) {
  const [row] = await sql<{ processed_at: Date | null; outcome: string | null; type: string }>(
    app,
    `select processed_at, outcome, type from webhook_events where id = ?`,
    [eventId],
  );
  return row;
}

/** Waits until the stored event has been applied (or ignored) and returns its outcome. */
export function eventOutcome(app: App, eventId: string): Promise<string> {
  return eventually(
    async () => {
      const row = await webhookEvent(app, eventId);
      return row?.processed_at ? (row.outcome ?? '') : undefined;
    },
    10_000,
    `event ${eventId} applied`,
  );
}

/** Outbox rows asking for the (order, kind) notification: one per transition that caused it. */
export async function notificationRequests(app: App, orderId: string, kind: string): Promise<number> {
  const [row] = await sql<{ n: string }>(
    app,
    `select count(*) as n from outbox where payload->>'orderId' = ? and payload->>'kind' = ?`,
    [orderId, kind],
  );
  return Number(row!.n);
}

/**
 * A Stripe-format event about a PaymentIntent (or its charge), as Stripe would send it; amount and
 * currency default to those of an order of one ticket of a default test event (5000 USD).
 */
export function stripeEvent(
  type: string,
  intent: { id: string; orderId: string; amount?: number; currency?: string; status?: string },
  eventId = `evt_test_${randomBytes(10).toString('hex')}`,
) {
  const object = type.startsWith('charge.')
    ? {
        id: `ch_test_${randomBytes(6).toString('hex')}`,
        object: 'charge',
        amount: intent.amount ?? 5000,
        amount_refunded: type === 'charge.refunded' ? (intent.amount ?? 5000) : 0,
        currency: intent.currency ?? 'usd',
        refunded: type === 'charge.refunded',
        payment_intent: intent.id,
        metadata: { orderId: intent.orderId },
      }
    : {
        id: intent.id,
        object: 'payment_intent',
        amount: intent.amount ?? 5000,
        currency: intent.currency ?? 'usd',
        status: intent.status ?? 'succeeded',
        metadata: { orderId: intent.orderId },
      };
  return {
    id: eventId,
    object: 'event',
    api_version: Stripe.API_VERSION,
    created: Math.floor(Date.now() / 1000),
    type,
    data: { object },
    livemode: false,
  };
}

/** Posts a body to the webhook route with the given signature header (or none). */
export async function postWebhook(app: App, payload: string, signature?: string) {
  const res = await fetch(`${app.url}/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(signature ? { 'stripe-signature': signature } : {}) },
    body: payload,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Signs and posts an event with the app's webhook secret (or `secret`), optionally signed `ageSeconds` ago (negative: ahead). */
export async function sendSignedEvent(
  app: App,
  event: { id: string },
  opts: { secret?: string; ageSeconds?: number } = {},
) {
  const payload = JSON.stringify(event);
  const signature = Stripe.webhooks.generateTestHeaderString({
    payload,
    secret: opts.secret ?? app.config.payments.webhookSecret,
    timestamp: Math.floor(Date.now() / 1000) - (opts.ageSeconds ?? 0),
  });
  return postWebhook(app, payload, signature);
}
