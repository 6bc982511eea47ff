import type { OrderStatus } from '../../entities/order.entity.js';

/** Statuses whose tickets are taken from stock (docs/design.md, invariant 1). */
export const HOLDING_STATUSES: readonly OrderStatus[] = ['UNPAID', 'PAYING', 'FAILED', 'SUCCEEDED'];

/** Statuses in which the hold is running: the buyer may still pay, the tickets are held. */
export const OPEN_STATUSES: readonly OrderStatus[] = ['UNPAID', 'PAYING', 'FAILED'];

/** Open statuses whose hold simply ends at expiry (a PAYING one needs its intent cancelled first). */
export const UNPAID_STATUSES: readonly OrderStatus[] = ['UNPAID', 'FAILED'];

/**
 * A status set as an SQL list, `('UNPAID', …)`, for `status in …` in a repository: written into
 * the statement (a constant, never input), so Postgres can match it to a partial index.
 */
export function statusList(statuses: readonly OrderStatus[]): string {
  return `(${statuses.map((status) => `'${status}'`).join(', ')})`;
}
