/** Integer minor units to a price a person reads, e.g. 4500 USD → "$45.00". */
export function money(minor: number, currency: string): string {
  return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(minor / 100);
}

export function dateTime(iso: string): string {
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}

/** 125 → "2:05". */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export const EVENT_STATUS_TEXT: Record<string, string> = {
  SCHEDULED: 'Sale not open yet',
  ON_SALE: 'On sale',
  SOLD_OUT: 'Sold out',
  ENDED: 'Ended',
};

export const ORDER_STATUS_TEXT: Record<string, string> = {
  UNPAID: 'Reserved, awaiting payment',
  PAYING: 'Payment in progress',
  CANCELLED: 'Cancelled',
  SUCCEEDED: 'Paid',
  FAILED: 'Payment failed',
  REFUNDED: 'Refunded',
};

/** A rejected booking's reason, said plainly. */
export const REJECTION_TEXT: Record<string, string> = {
  SOLD_OUT: 'Sold out: there are not enough tickets left.',
  LIMIT_EXCEEDED: 'You have reached the most tickets one buyer may hold for this event.',
  NOT_ON_SALE: 'This event is not on sale right now.',
  INVALID_QUANTITY: 'That quantity is not allowed.',
  RATE_LIMITED: 'Too many booking attempts; wait a few seconds and try again.',
  NOT_ADMITTED: 'You need to be admitted from the waiting room first.',
};
