import type { Infra } from '../infra/infra.js';
import type { BookingRegistry } from '../infra/booking-registry.js';
import { OverdueBookings } from '../services/booking/overdue-bookings.service.js';
import { runPeriodically, type PeriodicWorker } from './periodic.js';

/** Overdue attempts looked at per registry group and round (16 groups: up to 1024 a round). */
const BATCH = 64;

/** Every SWEEP_INTERVAL_MS, once across the deployment: attempts past their deadline reach a decision (OverdueBookings). */
export function startBookingSweeper(infra: Infra, registry: BookingRegistry): PeriodicWorker {
  const { nats, live, orm, log, redis, config } = infra;
  const overdue = new OverdueBookings({
    orm,
    registry,
    nats,
    live,
    log,
    decisionDeadlineMs: config.booking.decisionDeadlineMs,
  });
  return runPeriodically({
    name: 'booking-sweeper',
    intervalMs: config.sweepIntervalMs,
    log,
    lock: { redis, namespace: config.namespace },
    task: () => overdue.sweep(BATCH),
  });
}
