import DataLoader from 'dataloader';
import { Event } from '../entities/event.entity.js';
import type { EntityManager } from '../infra/database.js';
import type { EventView } from './event.service.js';

/**
 * Per-request DataLoaders: every list field that would otherwise query once per row asks these,
 * and they batch the ids of one tick into one query.
 */
export function createLoaders(em: () => EntityManager) {
  return {
    eventView: new DataLoader<string, EventView | null>(async (ids) => {
      const rows = await em().execute<({ id: string; available: number } & Record<string, unknown>)[]>(
        `select e.*, s.available from events e join stock s on s.event_id = e.id where e.id in (?)`,
        [ids],
      );
      const byId = new Map(
        rows.map((row) => [row.id, { event: em().map(Event, row), available: Number(row.available) }]),
      );
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
