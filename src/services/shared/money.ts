/**
 * Money is integer minor units plus an ISO 4217 currency everywhere (docs/design.md, Habits); this is
 * the one place that turns it into text for people.
 */

const formatters = new Map<string, Intl.NumberFormat>();

function formatter(currency: string, locale: string): Intl.NumberFormat {
  const key = `${locale}|${currency}`;
  let f = formatters.get(key);
  if (!f) formatters.set(key, (f = new Intl.NumberFormat(locale, { style: 'currency', currency })));
  return f;
}

/**
 * `formatMoney(10000, 'USD')` → "$100.00", `formatMoney(1500, 'JPY')` → "¥1,500",
 * `formatMoney(1234, 'KWD')` → "KWD 1.234". The number of minor-unit digits is the currency's own
 * (from the ICU data behind Intl). The amount is handed to Intl as an exact decimal string, so no
 * floating-point rounding can creep in, whatever its size. Throws RangeError for a malformed code.
 */
export function formatMoney(amountMinor: number, currency: string, locale = 'en-US'): string {
  if (!Number.isSafeInteger(amountMinor)) throw new RangeError('amount must be a whole number of minor units');
  const f = formatter(currency.toUpperCase(), locale);
  const digits = f.resolvedOptions().maximumFractionDigits ?? 2;
  const magnitude = String(Math.abs(amountMinor)).padStart(digits + 1, '0');
  const whole = magnitude.slice(0, magnitude.length - digits);
  const fraction = digits > 0 ? `.${magnitude.slice(-digits)}` : '';
  const decimal = `${amountMinor < 0 ? '-' : ''}${whole}${fraction}`;
  // Intl.NumberFormat v3 formats a decimal string exactly; the DOM lib types still say number.
  return f.format(decimal as unknown as number);
}
