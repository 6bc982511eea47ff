import { describe, expect, it } from 'vitest';
import { eventStatus } from './event-status.js';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const at = (offsetMs: number) => new Date(NOW + offsetMs);
const HOUR = 3600_000;

/** On sale from an hour ago until the event starts in a day. */
const event = { saleStartsAt: at(-HOUR), startsAt: at(24 * HOUR) };

describe('eventStatus', () => {
  it('is SCHEDULED before the sale opens, whatever the stock', () => {
    expect(eventStatus({ ...event, saleStartsAt: at(1) }, 100, NOW)).toBe('SCHEDULED');
    expect(eventStatus({ ...event, saleStartsAt: at(1) }, 0, NOW)).toBe('SCHEDULED');
  });

  it('is ON_SALE from the moment the sale opens while tickets are available', () => {
    expect(eventStatus({ ...event, saleStartsAt: at(0) }, 1, NOW)).toBe('ON_SALE');
    expect(eventStatus(event, 10_000, NOW)).toBe('ON_SALE');
  });

  it('is SOLD_OUT during the sale while no ticket is available', () => {
    expect(eventStatus(event, 0, NOW)).toBe('SOLD_OUT');
  });

  it('is ENDED from the moment the event starts, even with tickets left', () => {
    expect(eventStatus({ ...event, startsAt: at(0) }, 5, NOW)).toBe('ENDED');
    expect(eventStatus({ ...event, startsAt: at(-1) }, 0, NOW)).toBe('ENDED');
  });
});
