import type { Ctx } from './context.js';

export interface InvariantCheck {
  eventId: string;
  total: number;
  /** Tickets in RESERVED bookings. */
  reserved: number;
  /** Tickets in orders that hold them (UNPAID, PAYING, FAILED, SUCCEEDED). */
  held: number;
  pgAvailable: number;
  redisStock: number | null;
  redisInflight: number;
  oversold: number;
  /** Clients told RESERVED. */
  clientReserved: number;
  ok: boolean;
  problems: string[];
}

/** What must hold after a phase on `eventId`, checked in Postgres and in the stock gate. */
export async function checkInvariants(
  ctx: Ctx,
  eventId: string,
  total: number,
  clientReserved: number,
  expectSoldOut: boolean,
): Promise<InvariantCheck> {
  const { rows } = await ctx.db.query<{ reserved: string; held: string; available: number }>(
    `select
       (select coalesce(sum(quantity), 0) from bookings where event_id = $1 and status = 'RESERVED') as reserved,
       (select coalesce(sum(quantity), 0) from orders where event_id = $1
          and status in ('UNPAID', 'PAYING', 'FAILED', 'SUCCEEDED')) as held,
       (select available from stock where event_id = $1) as available`,
    [eventId],
  );
  const row = rows[0]!;
  const { stock: redisStock, inflightQty } = await ctx.gate.summary(eventId);
  const reserved = Number(row.reserved);
  const held = Number(row.held);
  const pgAvailable = Number(row.available);
  const problems: string[] = [];
  if (reserved > total) problems.push(`oversold by ${reserved - total}`);
  if (held + pgAvailable !== total) problems.push(`held ${held} + available ${pgAvailable} ≠ total ${total}`);
  if (expectSoldOut && reserved !== total) problems.push(`reserved ${reserved} ≠ total ${total} (undersold)`);
  if (expectSoldOut && pgAvailable !== 0) problems.push(`Postgres stock ${pgAvailable} ≠ 0`);
  if (redisStock !== pgAvailable) problems.push(`Redis stock ${redisStock} ≠ Postgres ${pgAvailable}`);
  if (clientReserved !== reserved) problems.push(`clients told RESERVED ${clientReserved} ≠ Postgres ${reserved}`);
  return {
    eventId,
    total,
    reserved,
    held,
    pgAvailable,
    redisStock,
    redisInflight: inflightQty,
    oversold: Math.max(0, reserved - total),
    clientReserved,
    ok: problems.length === 0,
    problems,
  };
}

/** The end of a phase's progress line: the invariants' verdict. */
export function invariantsNote(inv: InvariantCheck): string {
  return inv.ok ? 'invariants hold' : `INVARIANTS BROKEN: ${inv.problems.join('; ')}`;
}
