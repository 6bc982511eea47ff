import type { Database } from '../../infra/database.js';
import type { LiveBus } from '../../infra/live-bus.js';
import type { StockGate, StockSnapshot } from '../../infra/stock-gate.js';
import type { Logger } from '../../logger.js';
import type { LiveTopics } from '../messages/live-topics.js';
import { decidedBefore } from '../booking/booking.repository.js';
import { stockOfEventsOnSale } from './stock.repository.js';

/** Stock is loaded into Redis this long before a sale opens, so the first second finds it there. */
const PRELOAD_AHEAD = '10 minutes';
/** A decision older than this whose reservation is still in flight in Redis lost its settle (a failover). */
const SETTLE_LOST_AFTER_SECONDS = 10;

export interface StockRepairDeps {
  orm: Database;
  gate: StockGate;
  live: LiveBus<LiveTopics>;
  log: Logger;
  /** Postgres' full view of an event's stock (BookingDecider.snapshot). */
  snapshot(eventId: string): Promise<StockSnapshot>;
}

/**
 * Keeps Redis' copy of the stock right for events on sale or about to be: loads it before the sale
 * opens (and again if Redis lost it), and, whenever no booking is in flight and Redis differs from
 * Postgres, makes it equal to Postgres, which repairs anything a crash between a Postgres commit
 * and its Redis update left. Comparing first matters during a sale: rebuilding an event with 20,000
 * buyers blocks Redis (and so every gateway's bookTicket) for tens of milliseconds each round.
 *
 * Each buyer's count is compared too (a wrong one refuses a buyer LIMIT_EXCEEDED for tickets they do
 * not hold), once per stock version of each event: in short Redis steps that write only the counts
 * that differ, so an event whose version has not moved costs nothing after its first check.
 */
export class StockRepair {
  /** Per event, the stock version whose per-buyer counts this process last found equal to Postgres. */
  private readonly buyersChecked = new Map<string, number>();

  constructor(private readonly deps: StockRepairDeps) {}

  /** One round over the events on sale or about to be. */
  async sweep(): Promise<void> {
    const { orm, gate, live, log } = this.deps;
    const buyersChecked = this.buyersChecked;
    // Per event: Postgres' stock, version and number of buyers holding tickets, to compare with
    // Redis cheaply; only an event that differs gets the full snapshot (every buyer's tickets).
    const events = await stockOfEventsOnSale(orm.em.fork(), PRELOAD_AHEAD);
    const current = new Set(events.map((e) => e.id));
    for (const id of buyersChecked.keys()) if (!current.has(id)) buyersChecked.delete(id);

    for (const { id, ...pg } of events) {
      const redisSide = await gate.summary(id);
      // With bookings in flight a rebuild would be refused anyway; the next round looks again.
      // Reservations Postgres decided long ago lost their settle (a Redis failover): forgotten first.
      if (redisSide.stock !== null && redisSide.inflightQty > 0) {
        const forgotten = await this.forgetLostSettles(id);
        if (forgotten > 0)
          log.warn(
            { eventId: id, tickets: forgotten },
            'redis in-flight reservations already decided in postgres forgotten',
          );
        continue;
      }
      const version = Number(pg.version);
      const stockAgrees = redisSide.stock === Number(pg.available) && redisSide.version === version;
      if (stockAgrees && redisSide.holders === Number(pg.holders) && buyersChecked.get(id) === version) continue;

      const snapshot = await this.deps.snapshot(id);
      if (stockAgrees) {
        // Only buyers can be wrong: set those that differ, nothing else.
        const fixed = snapshot.version === version ? await gate.repairHeld(id, snapshot) : null;
        if (fixed === null) continue; // Postgres or Redis moved on meanwhile: the next round looks again
        if (fixed > 0) log.warn({ eventId: id, buyers: fixed }, 'redis buyer counts set from postgres');
        buyersChecked.set(id, version);
        continue;
      }
      const changed = (await gate.load(id, snapshot)) || (await gate.reconcile(id, snapshot));
      if (changed) {
        log.info({ eventId: id, available: snapshot.available }, 'redis stock set from postgres');
        live.publish('stock', id, {
          eventId: id,
          available: snapshot.available,
          version: snapshot.version,
          at: new Date().toISOString(),
        });
      }
    }
  }

  private async forgetLostSettles(eventId: string): Promise<number> {
    const ids = await this.deps.gate.inflightIds(eventId);
    if (ids.length === 0) return 0;
    return this.deps.gate.forgetSettled(
      eventId,
      await decidedBefore(this.deps.orm.em.fork(), ids, SETTLE_LOST_AFTER_SECONDS),
    );
  }
}
