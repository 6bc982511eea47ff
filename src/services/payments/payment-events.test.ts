import { describe, expect, it } from 'vitest';
import { claimedMoney, moneyMismatch, toPaymentAction } from './payment-events.js';

const intent = (extra: Record<string, unknown> = {}) => ({
  id: 'pi_1',
  object: 'payment_intent',
  metadata: { orderId: 'order-1' },
  ...extra,
});
const event = (type: string, object: Record<string, unknown>) => ({ type, data: { object } });

describe('toPaymentAction', () => {
  it('maps a succeeded intent to its intent and order', () => {
    expect(toPaymentAction(event('payment_intent.succeeded', intent()))).toEqual({
      kind: 'succeeded',
      intentId: 'pi_1',
      orderId: 'order-1',
    });
  });

  it('maps a failed intent with the decline code as the reason, falling back to the error code', () => {
    const declined = intent({ last_payment_error: { code: 'card_declined', decline_code: 'insufficient_funds' } });
    expect(toPaymentAction(event('payment_intent.payment_failed', declined))).toEqual({
      kind: 'failed',
      intentId: 'pi_1',
      orderId: 'order-1',
      reason: 'insufficient_funds',
    });
    const plain = intent({ last_payment_error: { code: 'card_declined' } });
    expect(toPaymentAction(event('payment_intent.payment_failed', plain))).toMatchObject({ reason: 'card_declined' });
    expect(toPaymentAction(event('payment_intent.payment_failed', intent()))).toMatchObject({ reason: null });
  });

  it('maps a canceled intent', () => {
    expect(toPaymentAction(event('payment_intent.canceled', intent()))).toEqual({
      kind: 'canceled',
      intentId: 'pi_1',
      orderId: 'order-1',
    });
  });

  it('maps a refunded charge to its intent, as an id or expanded, and tells a full refund from a partial one', () => {
    const charge = { id: 'ch_1', object: 'charge', amount: 5000, metadata: { orderId: 'order-1' } };
    expect(
      toPaymentAction(
        event('charge.refunded', { ...charge, payment_intent: 'pi_1', refunded: true, amount_refunded: 5000 }),
      ),
    ).toEqual({ kind: 'refunded', intentId: 'pi_1', orderId: 'order-1', full: true });
    expect(
      toPaymentAction(
        event('charge.refunded', { ...charge, payment_intent: { id: 'pi_1' }, refunded: false, amount_refunded: 100 }),
      ),
    ).toEqual({ kind: 'refunded', intentId: 'pi_1', orderId: 'order-1', full: false });
  });

  it('leaves the order unknown when the metadata does not name one', () => {
    expect(toPaymentAction(event('payment_intent.succeeded', { id: 'pi_2', metadata: {} }))).toEqual({
      kind: 'succeeded',
      intentId: 'pi_2',
      orderId: null,
    });
  });

  it('ignores every other event type, and handled types that lack the intent', () => {
    expect(toPaymentAction(event('customer.created', { id: 'cus_1' }))).toEqual({
      kind: 'ignore',
      reason: 'unsupported event type customer.created',
    });
    expect(toPaymentAction(event('payment_intent.created', intent())).kind).toBe('ignore');
    expect(toPaymentAction(event('payment_intent.succeeded', { metadata: {} })).kind).toBe('ignore');
    expect(toPaymentAction(event('charge.refunded', { id: 'ch_1', refunded: true })).kind).toBe('ignore');
  });
});

describe('moneyMismatch', () => {
  const stored = { amount: 10_000, currency: 'USD' };
  const claimed = (object: Record<string, unknown>) => claimedMoney(event('payment_intent.succeeded', object));

  it('accepts the stored amount in the stored currency, in any letter case', () => {
    expect(moneyMismatch(claimed({ amount: 10_000, currency: 'usd' }), stored)).toBeNull();
  });

  it('names the amount when it differs, and the currency when only that does', () => {
    expect(moneyMismatch(claimed({ amount: 1, currency: 'usd' }), stored)).toEqual({
      field: 'amount',
      reason: 'amount 1 USD does not match the payment (10000 USD)',
    });
    expect(moneyMismatch(claimed({ amount: 10_000, currency: 'eur' }), stored)).toMatchObject({ field: 'currency' });
  });

  it('refuses an event that states no amount or currency, or a fractional amount', () => {
    expect(moneyMismatch(claimed({}), stored)).toEqual({
      field: 'amount',
      reason: 'amount (none) (none) does not match the payment (10000 USD)',
    });
    expect(moneyMismatch(claimed({ amount: 10_000 }), stored)).toMatchObject({ field: 'currency' });
    expect(moneyMismatch(claimed({ amount: 9999.5, currency: 'usd' }), stored)).toMatchObject({ field: 'amount' });
  });
});
