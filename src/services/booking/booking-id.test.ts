import { randomUUID } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { bookingIdFor } from './booking.service.js';

const NAMESPACE = '6f0a4c1e-2b7d-4f5a-9c3e-8d1b2a7e4f60';

describe('bookingIdFor', () => {
  it('gives the uuid package UUIDv5 of "user:key" in the booking namespace, for any characters in the key', () => {
    const user = '0b5e2f8a-6a61-4a4e-9c55-1f0d3c2b7a90';
    for (const key of ['k', 'order-42', 'ключ 🎟️', ':'.repeat(200)]) {
      expect(bookingIdFor(user, key)).toBe(uuidv5(`${user}:${key}`, NAMESPACE));
    }
    // Enough random names to meet every value of the variant digit (8, 9, a, b).
    const variants = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const [u, k] = [randomUUID(), randomUUID()];
      const id = bookingIdFor(u, k);
      expect(id).toBe(uuidv5(`${u}:${k}`, NAMESPACE));
      variants.add(id[19]!);
    }
    expect([...variants].sort()).toEqual(['8', '9', 'a', 'b']);
    // Fixed forever: a retried request must name the booking it named before an upgrade.
    expect(bookingIdFor(user, 'k')).toBe('73dc0388-87cc-5593-9924-fafd6a777094');
  });
});
