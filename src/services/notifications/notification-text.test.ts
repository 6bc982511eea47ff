import { describe, expect, it } from 'vitest';
import { notificationText, type OrderFacts } from './notification-text.js';

const order: OrderFacts = {
  eventTitle: 'Midnight Jazz',
  quantity: 2,
  amount: 10000,
  currency: 'USD',
  expiresAt: new Date('2026-12-01T21:05:30Z'),
};

describe('notificationText', () => {
  it('says what was paid for, with the amount in the order’s currency', () => {
    expect(notificationText('ORDER_SUCCEEDED', order)).toEqual({
      title: 'Payment received — 2 tickets for Midnight Jazz',
      body: 'We received $100.00. Your tickets are confirmed.',
    });
  });

  it('uses the singular for one ticket', () => {
    expect(notificationText('ORDER_CANCELLED', { ...order, quantity: 1 }).title).toBe(
      'Order cancelled — 1 ticket for Midnight Jazz',
    );
  });

  it('names the refunded amount', () => {
    expect(notificationText('ORDER_REFUNDED', { ...order, amount: 1500, currency: 'JPY' }).body).toContain(
      'Your payment of ¥1,500',
    );
  });

  it('gives the end of the hold in UTC', () => {
    expect(notificationText('HOLD_EXPIRING', order).body).toBe('Pay $100.00 by 21:05 UTC to keep your tickets.');
  });
});
