import { Repeater, SlidingBuffer } from '@repeaterjs/repeater';
import type { Database } from '../../infra/database.js';
import type { LiveBus } from '../../infra/live-bus.js';
import type { StockGate } from '../../infra/stock-gate.js';
import type { Logger } from '../../logger.js';
import { holderIds } from '../orders/order.repository.js';
import type { LiveTopics, StockLive } from '../messages/live-topics.js';

/** A count younger than this is used as it is; an older one is refreshed from Redis. */
const FRESH_MS = 1000;
/** Subscribers of one event get at most one update per this interval, and always the last one. */
const COALESCE_MS = 250;

interface Count {
  available: number;
  version: number;
  seenAt: number;
}

/**
 * A gateway's view of every event's ticket count, kept current by the workers' stock messages.
 * It answers "is this event sold out?" with no I/O (the bookTicket fast path), serves the live
 * count for event pages, and feeds `stockChanged` subscribers, coalesced per event so a sale of
 * 10,000 tickets in ten seconds is a few messages a second per socket, not 10,000.
 */
export class StockCounts {
  private readonly counts = new Map<string, Count>();
  private readonly refreshing = new Set<string>();
  /** Per sold-out event: buyers who may hold tickets (so their retries skip the fast rejection). */
  private readonly holders = new Map<string, { users: Set<string>; loaded: boolean }>();
  private readonly tickers = new Map<string, Ticker>();

  constructor(
    live: LiveBus<LiveTopics>,
    private readonly gate: StockGate,
    private readonly orm: Database,
    private readonly log: Logger,
  ) {
    live.listenAll('stock', (eventId, msg) => this.apply(eventId, msg.available, msg.version));
    live.listenAll('decisions', (_key, decisions) => {
      for (const d of decisions) {
        if (d.status === 'RESERVED') this.holders.get(d.eventId)?.users.add(d.userId);
      }
    });
  }

  /** No I/O. True when the last known count is 0; a stale count is refreshed in the background. */
  isSoldOut(eventId: string): boolean {
    const count = this.counts.get(eventId);
    if (!count) return false;
    if (Date.now() - count.seenAt > FRESH_MS) void this.refresh(eventId);
    if (count.available > 0) return false;
    if (!this.holders.has(eventId)) void this.loadHolders(eventId);
    return true;
  }

  /**
   * No I/O. Whether the buyer may hold tickets of this sold-out event: a retry of their successful
   * booking must get that booking back, not a fast SOLD_OUT. True until the holders are known.
   */
  mayHold(eventId: string, userId: string): boolean {
    const holders = this.holders.get(eventId);
    return !holders?.loaded || holders.users.has(userId);
  }

  /** The live count: this process's if fresh, else Redis', else Postgres' (`fallback`). */
  async available(eventId: string, fallback: () => Promise<number>): Promise<number> {
    const fresh = this.fresh(eventId);
    if (fresh !== undefined) return fresh;
    return (await this.refresh(eventId)) ?? fallback();
  }

  /** No I/O: the count if this process heard it within the last second. */
  fresh(eventId: string): number | undefined {
    const count = this.counts.get(eventId);
    return count && Date.now() - count.seenAt <= FRESH_MS ? count.available : undefined;
  }

  /** Records a count this process learned itself (e.g. from Postgres when creating an event). */
  apply(eventId: string, available: number, version: number): void {
    const known = this.counts.get(eventId);
    // A newer Postgres version wins; the same version may bring a fresher Redis count.
    if (known && version < known.version) return;
    this.counts.set(eventId, { available, version, seenAt: Date.now() });
    if (available > 0) this.holders.delete(eventId);
    this.tickers.get(eventId)?.push({ eventId, available, version, at: new Date().toISOString() });
  }

  /**
   * Coalesced stock updates of one event for a subscriber, starting with the current count. A
   * subscriber slower than the updates (its socket's send still pending) keeps only the newest
   * count: an unbuffered Repeater would queue every update for it, and with 10,000 sockets during a
   * sale those queues were most of the gateway's heap.
   */
  subscribe(eventId: string, current: StockLive): AsyncIterableIterator<StockLive> {
    return new Repeater<StockLive>(async (push, stop) => {
      await push(current);
      let ticker = this.tickers.get(eventId);
      if (!ticker) this.tickers.set(eventId, (ticker = new Ticker(COALESCE_MS)));
      const unsubscribe = ticker.add((msg) => void push(msg));
      await stop;
      unsubscribe();
      if (ticker.size === 0) {
        ticker.close();
        this.tickers.delete(eventId);
      }
    }, new SlidingBuffer(1));
  }

  /** `stockChanged` subscribers in this process; 0 once they all ended. */
  subscriberCount(): number {
    let count = 0;
    for (const ticker of this.tickers.values()) count += ticker.size;
    return count;
  }

  private async refresh(eventId: string): Promise<number | null> {
    if (this.refreshing.has(eventId)) return this.counts.get(eventId)?.available ?? null;
    this.refreshing.add(eventId);
    try {
      const stock = await this.gate.stock(eventId);
      if (stock === null) return null;
      const known = this.counts.get(eventId);
      this.counts.set(eventId, { available: stock, version: known?.version ?? 0, seenAt: Date.now() });
      if (stock > 0) this.holders.delete(eventId);
      return stock;
    } catch (err) {
      this.log.warn({ err, eventId }, 'could not refresh stock from Redis');
      return null;
    } finally {
      this.refreshing.delete(eventId);
    }
  }

  private async loadHolders(eventId: string): Promise<void> {
    // Decisions arriving while the query runs are collected too, so none falls in between.
    const holders = { users: new Set<string>(), loaded: false };
    this.holders.set(eventId, holders);
    try {
      for (const userId of await holderIds(this.orm.em.fork(), eventId)) holders.users.add(userId);
      holders.loaded = true;
    } catch (err) {
      this.log.warn({ err, eventId }, 'could not load the holders of a sold-out event');
      this.holders.delete(eventId);
    }
  }
}

/** Fans one event's updates out to its subscribers: at most one per interval, the last always. */
class Ticker {
  private readonly listeners = new Set<(msg: StockLive) => void>();
  private latest: StockLive | undefined;
  private lastSentAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs: number) {}

  get size(): number {
    return this.listeners.size;
  }

  add(listener: (msg: StockLive) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  push(msg: StockLive): void {
    this.latest = msg;
    if (this.timer) return;
    const wait = this.lastSentAt + this.intervalMs - Date.now();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  close(): void {
    clearTimeout(this.timer);
  }

  private flush(): void {
    this.timer = undefined;
    const msg = this.latest;
    if (!msg) return;
    this.latest = undefined;
    this.lastSentAt = Date.now();
    for (const listener of this.listeners) listener(msg);
  }
}
