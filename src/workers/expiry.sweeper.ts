import type { Infra } from '../infra/infra.js';
import type { HoldExpiry } from '../services/orders/hold-expiry.service.js';
import type { Worker } from './worker.js';
import { runPeriodically, type PeriodicWorker } from './periodic.js';

/**
 * The safety net under the delayed expiry jobs (JetStream on one node can lose one): every
 * SWEEP_INTERVAL_MS, one process ends every hold that has run out per Postgres' clock. So a lost
 * job leaks no ticket for longer than the hold plus one interval.
 *
 * Two rounds, each with its own timer and lock: unpaid holds end in a few statements, while each
 * PAYING order costs a provider call and may be busy in another transaction. In one round the
 * PAYING pass kept every newly ended unpaid hold waiting for the next round (20 s and more under
 * load, a slow Postgres or after a NATS restart).
 */
export function startExpirySweepers(infra: Infra, holds: HoldExpiry): (Worker & PeriodicWorker)[] {
  const { config } = infra;
  const lock = { redis: infra.redis, namespace: config.namespace };
  const unpaidLog = infra.log.child({ worker: 'expiry-sweeper' });
  const payingLog = infra.log.child({ worker: 'paying-expiry-sweeper' });
  const unpaid = runPeriodically({
    name: 'expiry-sweeper',
    intervalMs: config.sweepIntervalMs,
    log: unpaidLog,
    lock,
    async task() {
      const cancelled = await holds.sweepUnpaid();
      if (cancelled > 0) unpaidLog.info({ cancelled }, 'expired holds swept');
    },
  });
  const paying = runPeriodically({
    name: 'paying-expiry-sweeper',
    intervalMs: config.sweepIntervalMs,
    log: payingLog,
    lock,
    async task() {
      const result = await holds.sweepPaying();
      if (result.cancelled > 0 || result.pending.length > 0) {
        payingLog.info({ cancelled: result.cancelled, pending: result.pending.length }, 'expired PAYING orders swept');
      }
    },
  });
  return [unpaid, paying];
}
