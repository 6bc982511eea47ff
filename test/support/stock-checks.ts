import { expect } from 'vitest';
import { stockState } from './fixtures.js';
import type { TestSystem } from './system.js';

/**
 * The booking invariants at rest: tickets held + available = total in Postgres, Redis agrees with
 * Postgres per event and per buyer, and nothing is in flight. Returns the state for further checks.
 */
export async function expectConsistentStock(sys: TestSystem, eventId: string) {
  const state = await stockState(sys, eventId);
  expect(state.held + state.pgAvailable).toBe(state.total);
  expect(state.redis.stock).toBe(state.pgAvailable);
  expect(state.redis.inflightQty).toBe(0);
  expect(state.redis.held).toEqual(state.heldByUser);
  return state;
}
