import type { Infra } from '../app.js';
import type { StockGate } from '../infra/stock-gate.js';
import type { BookingDecider } from '../services/booking-decider.js';
import { runPeriodically, type PeriodicWorker } from './periodic.js';

/** Stock is loaded into Redis this long before a sale opens, so the first second finds it there. */
const PRELOAD_AHEAD = '10 minutes';

/**
 * Keeps Redis' copy of the stock right for events on sale or about to be: loads it before the sale
 * opens (and again if Redis lost it), and, whenever no booking is in flight, makes it equal to
 * Postgres, which repairs anything a crash between a Postgres commit and its Redis update left.
 */
export function startStockSweeper(infra: Infra, gate: StockGate, decider: BookingDecider): PeriodicWorker {
  const { orm, live, log, redis, config } = infra;
  return runPeriodically({
    name: 'stock-sweeper',
    intervalMs: config.sweepIntervalMs,
    log,
    lock: { redis, key: `${config.namespace}:lock:stock-sweeper` },
    async task() {
      const events = await orm.em
        .fork()
        .execute<{ id: string }[]>(
          `select id from events where sale_starts_at <= now() + interval '${PRELOAD_AHEAD}' and starts_at > now()`,
        );
      for (const { id } of events) {
        const snapshot = await decider.snapshot(id);
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
    },
  });
}
