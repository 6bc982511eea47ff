import { v5 as uuidv5 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { bookingIdFor } from './booking.service.js';

describe('bookingIdFor', () => {
  it('gives the UUIDv5 of "user:key" in the booking namespace, for any characters in the key', () => {
    const user = '0b5e2f8a-6a61-4a4e-9c55-1f0d3c2b7a90';
    for (const key of ['k', 'order-42', 'ключ 🎟️', ':'.repeat(200)]) {
      expect(bookingIdFor(user, key)).toBe(uuidv5(`${user}:${key}`, '6f0a4c1e-2b7d-4f5a-9c3e-8d1b2a7e4f60'));
    }
    // Fixed forever: a retried request must name the booking it named before an upgrade.
    expect(bookingIdFor(user, 'k')).toBe('73dc0388-87cc-5593-9924-fafd6a777094');
  });
});
