import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Database } from '../../infra/database.js';
import type { LiveBus } from '../../infra/live-bus.js';
import type { StockGate } from '../../infra/stock-gate.js';
import type { Logger } from '../../logger.js';
import type { LiveTopics, StockLive } from '../messages/live-topics.js';
import { StockCounts } from './stock-counts.js';

// The subscriber side only: counts arrive through apply(); the bus, Redis and Postgres are not
// reached on this path, so they are left out rather than started.
const bus = { listenAll: () => () => undefined } as unknown as LiveBus<LiveTopics>;
const counts = () => new StockCounts(bus, {} as StockGate, {} as Database, {} as Logger);
const current: StockLive = { eventId: 'e1', available: 100, version: 1, at: new Date(0).toISOString() };

describe('stockChanged subscribers', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('keep only the newest count while they are slow to read, not a queue of every update', async () => {
    const stock = counts();
    const feed = stock.subscribe('e1', current);
    expect((await feed.next()).value).toEqual(current);
    // Nobody reads while the count moves three times, each past the coalescing interval.
    for (const available of [90, 80, 70]) {
      stock.apply('e1', available, 2);
      await vi.advanceTimersByTimeAsync(1000);
    }
    expect((await feed.next()).value).toMatchObject({ available: 70 });
    await feed.return?.();
    expect(stock.subscriberCount()).toBe(0);
  });
});
