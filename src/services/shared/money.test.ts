import { describe, expect, it } from 'vitest';
import { formatMoney } from './money.js';

describe('formatMoney', () => {
  it.each([
    [10000, 'USD', '$100.00'],
    [1999, 'USD', '$19.99'],
    [5, 'USD', '$0.05'],
    [0, 'EUR', '€0.00'],
    [1500, 'JPY', '¥1,500'],
    [1234, 'KWD', 'KWD\u00a01.234'], // ICU puts a no-break space after a code
    [-250, 'USD', '-$2.50'],
    [123456789012345, 'EUR', '€1,234,567,890,123.45'],
  ])('formats %d minor units of %s as %s, with the currency’s own number of decimals', (amount, currency, text) => {
    expect(formatMoney(amount, currency)).toBe(text);
  });

  it('accepts a lower-case currency code', () => {
    expect(formatMoney(4200, 'usd')).toBe('$42.00');
  });

  it('refuses a fractional amount and a malformed currency code', () => {
    expect(() => formatMoney(10.5, 'USD')).toThrow(RangeError);
    expect(() => formatMoney(100, 'US')).toThrow(RangeError);
  });
});
