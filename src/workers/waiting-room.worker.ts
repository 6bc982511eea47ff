import type { Infra } from '../infra/infra.js';
import type { AdmissionRunner } from '../services/waiting-room/admission-runner.js';
import { runPeriodically, type PeriodicWorker } from './periodic.js';

/** The admission loop: one round every WAITING_ROOM_TICK_MS, by one process of the deployment at a time. */
export function startWaitingRoomWorker(infra: Infra, runner: AdmissionRunner): PeriodicWorker {
  const { config, log, redis } = infra;
  return runPeriodically({
    name: 'waiting-room',
    intervalMs: config.waitingRoom.tickMs,
    log,
    lock: { redis, namespace: config.namespace },
    task: () => runner.round(),
  });
}
