import type { Infra } from '../../infra/infra.js';
import type { EventCatalog } from '../events/event-catalog.js';
import { AdmissionRunner } from './admission-runner.js';
import { AdmissionTokens } from './admission-token.js';
import { createWaitingRoomMetrics } from './waiting-room.metrics.js';
import { WaitingRoomRepository } from './waiting-room.repository.js';
import { WaitingRoomService } from './waiting-room.service.js';

/** The waiting room's parts, built once per process: the gateway service and the admission runner. */
export function createWaitingRoom(infra: Infra, catalog: EventCatalog) {
  const { config } = infra;
  const repo = new WaitingRoomRepository();
  const metrics = createWaitingRoomMetrics(infra.metrics.registry);
  const service = new WaitingRoomService({
    orm: infra.orm,
    repo,
    live: infra.live,
    catalog,
    tokens: new AdmissionTokens(config.auth.jwtSecret),
    log: infra.log,
    startRate: config.waitingRoom.rates.start,
  });
  const runner = new AdmissionRunner({
    orm: infra.orm,
    repo,
    live: infra.live,
    metrics,
    log: infra.log,
    rates: config.waitingRoom.rates,
    ...(config.waitingRoom.shuffleSeed === undefined ? {} : { shuffleSeed: config.waitingRoom.shuffleSeed }),
  });
  return { repo, service, runner, metrics };
}
