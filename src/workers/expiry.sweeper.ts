import type { Infra } from '../infra/infra.js';
import type { HoldExpiry } from '../services/orders/hold-expiry.service.js';
import type { Worker } from './worker.js';
import { runPeriodically, type PeriodicWorker } from './periodic.js';

/**
 * The safety net under the delayed expiry jobs (JetStream on one node can lose one): every
 * SWEEP_INTERVAL_MS, one process ends every hold that has run out per Postgres' clock. So a lost
 * job leaks no ticket for longer than the hold plus one interval.
 */
export function startExpirySweeper(infra: Infra, holds: HoldExpiry): Worker & PeriodicWorker {
  const { config } = infra;
  const log = infra.log.child({ worker: 'expiry-sweeper' });
  return runPeriodically({
    name: 'expiry-sweeper',
    intervalMs: config.sweepIntervalMs,
    log,
    lock: { redis: infra.redis, namespace: config.namespace },
    async task() {
      const result = await holds.sweep();
      if (result.cancelled > 0 || result.pending.length > 0) {
        log.info({ cancelled: result.cancelled, pending: result.pending.length }, 'expired holds swept');
      }
    },
  });
}
