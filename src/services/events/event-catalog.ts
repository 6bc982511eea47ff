import { Event } from '../../entities/event.entity.js';
import type { Database } from '../../infra/database.js';

/**
 * An in-process cache of events. Their fields never change once created (there is no update
 * operation), so an entry stays valid for the life of the process; unknown ids are remembered
 * briefly so a flood of requests for a bad id does not reach Postgres each time.
 */
export class EventCatalog {
  private readonly events = new Map<string, Event>();
  private readonly missing = new Map<string, number>();
  private readonly loading = new Map<string, Promise<Event | null>>();

  constructor(
    private readonly orm: Database,
    private readonly limit = 10_000,
    private readonly missingTtlMs = 1000,
  ) {}

  /** Synchronous lookup for the hot path: the event if it is cached. */
  peek(id: string): Event | undefined {
    return this.events.get(id);
  }

  async get(id: string): Promise<Event | null> {
    const cached = this.events.get(id);
    if (cached) return cached;
    const missingSince = this.missing.get(id);
    if (missingSince !== undefined && Date.now() - missingSince < this.missingTtlMs) return null;
    let pending = this.loading.get(id);
    if (!pending) {
      pending = this.load(id).finally(() => this.loading.delete(id));
      this.loading.set(id, pending);
    }
    return pending;
  }

  async getMany(ids: readonly string[]): Promise<Map<string, Event>> {
    const found = await Promise.all(ids.map((id) => this.get(id)));
    return new Map(found.filter((e): e is Event => e !== null).map((e) => [e.id, e]));
  }

  /** Adds an event this process just created or read anyway, as a plain copy detached from any EntityManager. */
  remember(event: Event): Event {
    const plain: Event = {
      id: event.id,
      title: event.title,
      description: event.description,
      venue: event.venue,
      startsAt: event.startsAt,
      saleStartsAt: event.saleStartsAt,
      price: event.price,
      currency: event.currency,
      ticketsTotal: event.ticketsTotal,
      maxPerUser: event.maxPerUser,
      createdAt: event.createdAt,
    };
    if (this.events.size >= this.limit) this.events.clear();
    this.events.set(plain.id, plain);
    this.missing.delete(plain.id);
    return plain;
  }

  private async load(id: string): Promise<Event | null> {
    const event = await this.orm.em.fork().findOne(Event, { id }, { disableIdentityMap: true });
    if (!event) {
      if (this.missing.size >= this.limit) this.missing.clear();
      this.missing.set(id, Date.now());
      return null;
    }
    return this.remember(event);
  }
}
