import DataLoader from 'dataloader';
import { Order } from '../../entities/order.entity.js';
import type { EntityManager } from '../../infra/database.js';

/**
 * Per-request DataLoaders: every list field that would otherwise query once per row asks these,
 * and they batch the ids of one tick into one query. (Events come from the in-process EventCatalog.)
 */
export function createLoaders(em: () => EntityManager) {
  return {
    order: new DataLoader<string, Order | null>(async (ids) => {
      const orders = await em().find(Order, { id: { $in: [...ids] } });
      const byId = new Map(orders.map((o) => [o.id, o]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
