import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PayOrderDocument } from './generated/graphql.js';
import { ADMIN_EMAIL, createEvent, signUp } from './support/fixtures.js';
import {
  bookOrder,
  eventOutcome,
  orderReaches,
  orderStatus,
  sendSignedEvent,
  sql,
  stripeEvent,
  webhookEvent,
} from './support/payment-fixtures.js';
import { gqlOk, startTestSystem, type TestSystem } from './support/system.js';

/**
 * What a correctly signed webhook event may still not do: settle a payment with an amount or a
 * currency other than the stored one, or arrive with a signature timestamp far from now.
 */
let sys: TestSystem;
let admin: string;
let buyer: string;

beforeAll(async () => {
  sys = await startTestSystem({ BOOKING_WAIT_MS: '5000', BOOKING_RATE_PER_SECOND: '100' });
  admin = (await signUp(sys, ADMIN_EMAIL)).token;
  buyer = (await signUp(sys)).token;
});
afterAll(async () => {
  await sys.stop();
});

/** A PAYING order of one ticket at 10 000 (minor units) in `currency`. */
async function payingOrder(currency = 'USD') {
  const event = await createEvent(sys, admin, { ticketsTotal: 10, price: 10_000, currency });
  const orderId = await bookOrder(sys, buyer, event.id);
  const { payOrder } = await gqlOk(sys.url, PayOrderDocument, { orderId }, buyer);
  return { orderId, intentId: payOrder.paymentIntentId };
}

async function mismatches(field: 'amount' | 'currency'): Promise<number> {
  const text = await (await fetch(`${sys.app.url}/metrics`)).text();
  const line = new RegExp(`^payment_event_mismatches_total\\{field="${field}"\\} (\\d+)$`, 'm').exec(text);
  return line ? Number(line[1]) : 0;
}

describe('a signed webhook event that disagrees with the stored payment', () => {
  it('does not settle an order of 10 000 with a success claiming 1: recorded, counted, not applied', async () => {
    const { orderId, intentId } = await payingOrder();
    const before = await mismatches('amount');
    const cheap = stripeEvent('payment_intent.succeeded', { id: intentId, orderId, amount: 1 });
    expect(await sendSignedEvent(sys.app, cheap)).toEqual({ status: 200, body: { received: true } });
    expect(await eventOutcome(sys.app, cheap.id)).toBe('refused: amount 1 USD does not match the payment (10000 USD)');
    expect(await orderStatus(sys.app, orderId)).toBe('PAYING');
    expect(await mismatches('amount')).toBe(before + 1);
    expect(await sql(sys.app, `select status from payments where intent_id = ?`, [intentId])).toEqual([
      { status: 'requires_payment_method' },
    ]);

    // The right amount still settles it.
    const paid = stripeEvent('payment_intent.succeeded', { id: intentId, orderId, amount: 10_000 });
    await sendSignedEvent(sys.app, paid);
    expect(await eventOutcome(sys.app, paid.id)).toBe('applied: SUCCEEDED');
  });

  it('does not settle a EUR order with a success in another currency', async () => {
    const { orderId, intentId } = await payingOrder('EUR');
    const before = await mismatches('currency');
    const dollars = stripeEvent('payment_intent.succeeded', { id: intentId, orderId, amount: 10_000, currency: 'usd' });
    await sendSignedEvent(sys.app, dollars);
    expect(await eventOutcome(sys.app, dollars.id)).toBe(
      'refused: amount 10000 USD does not match the payment (10000 EUR)',
    );
    expect(await orderStatus(sys.app, orderId)).toBe('PAYING');
    expect(await mismatches('currency')).toBe(before + 1);
    // Stripe's lower case is the same currency.
    const euros = stripeEvent('payment_intent.succeeded', { id: intentId, orderId, amount: 10_000, currency: 'eur' });
    await sendSignedEvent(sys.app, euros);
    expect(await eventOutcome(sys.app, euros.id)).toBe('applied: SUCCEEDED');
  });

  it('does not refund a paid order on a charge.refunded whose charge has another amount or currency', async () => {
    const { orderId, intentId } = await payingOrder();
    await sendSignedEvent(sys.app, stripeEvent('payment_intent.succeeded', { id: intentId, orderId, amount: 10_000 }));
    await orderReaches(sys.app, orderId, 'SUCCEEDED');

    const small = stripeEvent('charge.refunded', { id: intentId, orderId, amount: 1 });
    await sendSignedEvent(sys.app, small);
    expect(await eventOutcome(sys.app, small.id)).toMatch(/^refused: amount 1 USD does not match/);
    const foreign = stripeEvent('charge.refunded', { id: intentId, orderId, amount: 10_000, currency: 'gbp' });
    await sendSignedEvent(sys.app, foreign);
    expect(await eventOutcome(sys.app, foreign.id)).toMatch(/^refused: amount 10000 GBP does not match/);
    expect(await orderStatus(sys.app, orderId)).toBe('SUCCEEDED');

    const refunded = stripeEvent('charge.refunded', { id: intentId, orderId, amount: 10_000 });
    await sendSignedEvent(sys.app, refunded);
    await orderReaches(sys.app, orderId, 'REFUNDED');
  });
});

describe('the signature timestamp', () => {
  it('refuses a timestamp a day in the future with 400 and stores nothing', async () => {
    const { orderId, intentId } = await payingOrder();
    const event = stripeEvent('payment_intent.succeeded', { id: intentId, orderId, amount: 10_000 });
    const ahead = await sendSignedEvent(sys.app, event, { ageSeconds: -86_400 });
    expect(ahead).toEqual({ status: 400, body: { error: 'bad_signature' } });
    expect(await webhookEvent(sys.app, event.id)).toBeUndefined();
    expect(await orderStatus(sys.app, orderId)).toBe('PAYING');
  });

  it('accepts a clock a minute ahead, inside the tolerance', async () => {
    const event = stripeEvent('customer.created', { id: 'pi_none', orderId: 'none' });
    expect((await sendSignedEvent(sys.app, event, { ageSeconds: -60 })).status).toBe(200);
    expect(await webhookEvent(sys.app, event.id)).toMatchObject({ type: 'customer.created' });
  });
});
