import type { Infra } from '../app.js';
import type { StockGate } from '../infra/stock-gate.js';
import type { BookingDecider } from '../services/booking-decider.js';
import { runPeriodically, type PeriodicWorker } from './periodic.js';

/** Stock is loaded into Redis this long before a sale opens, so the first second finds it there. */
const PRELOAD_AHEAD = '10 minutes';

/**
 * Keeps Redis' copy of the stock right for events on sale or about to be: loads it before the sale
 * opens (and again if Redis lost it), and, whenever no booking is in flight and Redis differs from
 * Postgres, makes it equal to Postgres, which repairs anything a crash between a Postgres commit
 * and its Redis update left. Comparing first matters during a sale: rebuilding an event with 20,000
 * buyers blocks Redis (and so every gateway's bookTicket) for tens of milliseconds each round.
 */
export function startStockSweeper(infra: Infra, gate: StockGate, decider: BookingDecider): PeriodicWorker {
  const { orm, live, log, redis, config } = infra;
  return runPeriodically({
    name: 'stock-sweeper',
    intervalMs: config.sweepIntervalMs,
    log,
    lock: { redis, key: `${config.namespace}:lock:stock-sweeper` },
    async task() {
      // Per event: Postgres' stock, version and number of buyers holding tickets, to compare with
      // Redis cheaply; only an event that differs gets the full snapshot (every buyer's tickets).
      const events = await orm.em.fork().execute<{ id: string; available: number; version: string; holders: string }[]>(
        `select e.id, s.available, s.version,
                (select count(distinct o.user_id) from orders o
                 where o.event_id = e.id and o.status in ('UNPAID', 'PAYING', 'FAILED', 'SUCCEEDED')) as holders
         from events e join stock s on s.event_id = e.id
         where e.sale_starts_at <= now() + interval '${PRELOAD_AHEAD}' and e.starts_at > now()`,
      );
      for (const { id, ...pg } of events) {
        const redisSide = await gate.summary(id);
        const agrees =
          redisSide.stock !== null &&
          // With bookings in flight a rebuild would be refused anyway; the next round looks again.
          (redisSide.inflightQty > 0 ||
            (redisSide.stock === Number(pg.available) &&
              redisSide.version === Number(pg.version) &&
              redisSide.holders === Number(pg.holders)));
        if (agrees) continue;
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
