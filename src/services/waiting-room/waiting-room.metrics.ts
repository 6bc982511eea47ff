import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The waiting room's metrics, on the process's registry (created once per process). */
export function createWaitingRoomMetrics(registry: Registry) {
  const registers = [registry];
  return {
    waiting: new Gauge({
      name: 'waiting_room_waiting',
      help: 'Passes waiting, per event (as the admission runner last counted)',
      labelNames: ['event'] as const,
      registers,
    }),
    admitted: new Gauge({
      name: 'waiting_room_admitted',
      help: 'Passes admitted and not yet expired, per event',
      labelNames: ['event'] as const,
      registers,
    }),
    expired: new Gauge({
      name: 'waiting_room_expired',
      help: 'Passes whose admission ran out before they joined again, per event',
      labelNames: ['event'] as const,
      registers,
    }),
    closed: new Gauge({
      name: 'waiting_room_closed',
      help: '1 while the event is sold out and its room closed, else 0',
      labelNames: ['event'] as const,
      registers,
    }),
    rate: new Gauge({
      name: 'waiting_room_admit_rate',
      help: 'Admissions per second the runner aims for now (configured, or derived from the pipeline)',
      labelNames: ['event'] as const,
      registers,
    }),
    admissions: new Counter({
      name: 'waiting_room_admissions_total',
      help: 'Passes admitted (rate() of it is the admission rate)',
      registers,
    }),
    waited: new Histogram({
      name: 'waiting_room_wait_seconds',
      help: 'Time a pass waited before admission (from joining, or from the sale start for the pre-queue)',
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    }),
  };
}

export type WaitingRoomMetrics = ReturnType<typeof createWaitingRoomMetrics>;
