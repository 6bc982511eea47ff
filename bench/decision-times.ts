import type { Attempts } from './attempts.js';
import type { Ctx } from './context.js';
import { Samples, summarize, type Summary } from './stats.js';

/**
 * Decision times as Postgres recorded them (bookings.decided_at: the deciding transaction's time),
 * exact for every attempt whatever the client learned and when:
 *   committed: attempt sent (client clock) → decided_at; an attempt rejected at the gateway has no
 *              row and counts its answer (that was the decision);
 *   admitted:  bookings.requested_at (stamped when the gateway began the call) → decided_at, so
 *              `committed − admitted` is time spent before the gateway got to the request.
 * Booking ids are derived from (user, key) exactly as the service derives them.
 */
export async function serverDecisionTimes(
  ctx: Ctx,
  eventId: string,
  attempts: Attempts,
  bookingIdOf: (i: number) => string,
): Promise<{ committed: Summary; admitted: Summary; lastReservedEpochMs: number }> {
  const { rows } = await ctx.db.query<{ id: string; decided: number; admitted: number; reserved: boolean }>(
    `select id, extract(epoch from decided_at) * 1000 as decided,
            extract(epoch from (decided_at - requested_at)) * 1000 as admitted, status = 'RESERVED' as reserved
     from bookings where event_id = $1`,
    [eventId],
  );
  const decidedAt = new Map(rows.map((r) => [r.id, Number(r.decided)]));
  const committed = new Samples(attempts.total);
  for (let i = 0; i < attempts.total; i++) {
    if (attempts.sentAt[i] === 0) continue;
    const at = decidedAt.get(bookingIdOf(i));
    if (at !== undefined) committed.add(at - toEpoch(attempts.sentAt[i]!));
    else if (attempts.decidedAt[i]! > 0) committed.add(attempts.decidedAt[i]! - attempts.sentAt[i]!);
  }
  const reservedAt = rows.filter((r) => r.reserved).map((r) => Number(r.decided));
  return {
    committed: committed.summary(),
    admitted: summarize(rows.map((r) => Number(r.admitted))),
    lastReservedEpochMs: reservedAt.length ? reservedAt.reduce((a, b) => Math.max(a, b)) : NaN,
  };
}

/** A performance.now() time as epoch ms, to compare with Postgres clocks. */
export const toEpoch = (perfMs: number) => performance.timeOrigin + perfMs;

/** Booking outcomes counted by the gateways' and the workers' metrics between two readings. */
export function gatewayRejections(
  before: Map<string, number>,
  after: Map<string, number>,
): { gateway: number; worker: number } {
  let gateway = 0;
  let worker = 0;
  for (const [key, value] of after) {
    const delta = value - (before.get(key) ?? 0);
    const [stage, outcome] = key.split(':');
    if (stage === 'gateway' && outcome !== 'QUEUED' && outcome !== 'UNAVAILABLE') gateway += delta;
    if (stage === 'worker') worker += delta;
  }
  return { gateway, worker };
}
