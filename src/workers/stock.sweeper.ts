import type { Infra } from '../infra/infra.js';
import type { StockGate } from '../infra/stock-gate.js';
import type { BookingDecider } from '../services/booking/booking-decider.js';
import { StockRepair } from '../services/events/stock-repair.service.js';
import { runPeriodically, type PeriodicWorker } from './periodic.js';

/** Every SWEEP_INTERVAL_MS, once across the deployment: Redis' copy of the stock is checked and repaired (StockRepair). */
export function startStockSweeper(infra: Infra, gate: StockGate, decider: BookingDecider): PeriodicWorker {
  const { orm, live, log, redis, config } = infra;
  const repair = new StockRepair({ orm, gate, live, log, snapshot: (eventId) => decider.snapshot(eventId) });
  return runPeriodically({
    name: 'stock-sweeper',
    intervalMs: config.sweepIntervalMs,
    log,
    lock: { redis, namespace: config.namespace },
    task: () => repair.sweep(),
  });
}
