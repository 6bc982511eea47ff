import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { RequestContext } from '../../context.js';
import { Event } from '../../entities/event.entity.js';
import { Stock } from '../../entities/stock.entity.js';
import type { EntityManager } from '../../infra/database.js';
import type { DatabaseReads } from '../../infra/database-reads.js';
import { mapIterator } from '../../infra/live-bus.js';
import { NotFoundError } from '../../errors.js';
import { decodeCursor, encodeCursor, pageSize, type Page } from '../shared/cursor.js';
import type { EventCatalog } from './event-catalog.js';
import { countEvents, searchEvents, upcomingEvents, type EventRow } from './event.repository.js';
import type { StockCounts } from './stock-counts.js';
import { isUuid, parseInput } from '../shared/validation.js';
import type { WaitingRoomRepository } from '../waiting-room/waiting-room.repository.js';
import { WaitingRoomInput } from '../waiting-room/waiting-room.rules.js';

/** An event with its current number of available tickets. */
export interface EventView {
  event: Event;
  available: number;
}

export const CreateEventInput = z
  .object({
    title: z.string().trim().min(1, { error: 'must not be empty' }).max(200),
    description: z.string().trim().max(10_000),
    venue: z.string().trim().min(1, { error: 'must not be empty' }).max(200),
    startsAt: z.date({ error: 'must be a date-time' }),
    saleStartsAt: z.date({ error: 'must be a date-time' }),
    price: z.number().int().min(0, { error: 'must not be negative' }).max(100_000_000),
    currency: z
      .string()
      .trim()
      .regex(/^[A-Za-z]{3}$/, { error: 'must be a 3-letter ISO 4217 code' })
      .transform((c) => c.toUpperCase()),
    ticketsTotal: z.number().int().min(1, { error: 'must be positive' }).max(10_000_000),
    maxPerUser: z.number().int().min(1, { error: 'must be positive' }).max(1000),
    waitingRoom: WaitingRoomInput.nullish(),
  })
  .refine((e) => e.saleStartsAt < e.startsAt, {
    path: ['saleStartsAt'],
    error: 'must be before startsAt',
  })
  .refine((e) => e.maxPerUser <= e.ticketsTotal, {
    path: ['maxPerUser'],
    error: 'must not exceed ticketsTotal',
  });
export type CreateEventInput = z.input<typeof CreateEventInput>;

const DEFAULT_PAGE_SIZE = 20;
const SEARCH_CURSOR = 'search';
const UPCOMING_CURSOR = 'upcoming';

export class EventService {
  constructor(
    private readonly catalog: EventCatalog,
    private readonly stock: StockCounts,
    private readonly waitingRooms: WaitingRoomRepository,
    private readonly reads: DatabaseReads,
  ) {}

  async create(ctx: RequestContext, input: CreateEventInput): Promise<EventView> {
    const { waitingRoom, ...data } = parseInput(CreateEventInput, input);
    const event = await ctx.em.transactional(async (em) => {
      const created = em.create(Event, { id: randomUUID(), ...data, createdAt: new Date() });
      // Stock refers to the event by a plain column, so the event row must exist first.
      await em.flush();
      em.create(Stock, { eventId: created.id, available: data.ticketsTotal, version: '0', updatedAt: new Date() });
      if (waitingRoom) await this.waitingRooms.create(em, created.id, waitingRoom);
      return created;
    });
    // The creator's listings read their own write, even while the replica lags.
    if (ctx.user) await this.reads.wrote([ctx.user.id]);
    return { event: this.catalog.remember(event), available: data.ticketsTotal };
  }

  /**
   * The event page: the event from the in-process catalog and its live ticket count, so a page
   * refreshed every second by a million buyers costs Postgres nothing in steady state. The catalog
   * reads the primary (booking decisions share it); the count, when neither this process nor Redis
   * knows it, is a display only and may come from the replica.
   */
  async get(ctx: RequestContext, id: string): Promise<EventView | null> {
    if (!isUuid(id)) return null;
    const event = this.catalog.peek(id) ?? (await this.catalog.get(id));
    if (!event) return null;
    const pgAvailable = () => this.reads.stale(ctx.user?.id ?? null, (em) => this.pgAvailable(em, id));
    return { event, available: await this.stock.available(id, pgAvailable) };
  }

  /** The current count, then every (coalesced) change of it. */
  async stockUpdates(ctx: RequestContext, eventId: string): Promise<AsyncIterableIterator<EventView & { at: Date }>> {
    const view = await this.get(ctx, eventId);
    if (!view) throw new NotFoundError('No such event');
    const { event } = view;
    const updates = this.stock.subscribe(eventId, {
      eventId,
      available: view.available,
      version: 0,
      at: new Date().toISOString(),
    });
    return mapIterator(updates, (update) => ({ event, available: update.available, at: new Date(update.at) }));
  }

  /**
   * Upcoming events by start time, or, with a query, keyword search over title, venue and
   * description (Postgres full-text search), best match first: an exact title match, then rank,
   * then start time. Browsing: served by the replica when there is one (see DatabaseReads).
   */
  async list(
    ctx: RequestContext,
    args: { query?: string | null; first?: number | null; after?: string | null; includeEnded?: boolean | null },
  ): Promise<Page<EventView>> {
    const limit = pageSize(args.first ?? DEFAULT_PAGE_SIZE);
    const query = args.query?.trim() ?? '';
    const includeEnded = args.includeEnded ?? false;
    const searchAfter = query ? this.searchAfter(args.after) : null;
    const upcomingAfter = query ? null : this.upcomingAfter(args.after);
    return this.reads.stale(ctx.user?.id ?? null, async (em) => {
      const rows = query
        ? await searchEvents(em, { query, limit: limit + 1, includeEnded, after: searchAfter })
        : await upcomingEvents(em, { limit: limit + 1, includeEnded, after: upcomingAfter });
      const pageRows = rows.slice(0, limit);
      return {
        hasNextPage: rows.length > limit,
        totalCount: pageRows.length > 0 ? Number(pageRows[0]!.total_count) : await countEvents(em, query, includeEnded),
        items: pageRows.map((row) => ({
          cursor: query
            ? encodeCursor(SEARCH_CURSOR, [row.sort_rank!, row.sort_starts_at, row.id])
            : encodeCursor(UPCOMING_CURSOR, [row.sort_starts_at, row.id]),
          node: this.toView(em, row),
        })),
      };
    });
  }

  private searchAfter(after: string | null | undefined) {
    if (!after) return null;
    const [rank, startsAt, id] = decodeCursor(SEARCH_CURSOR, after, ['real', 'timestamp', 'uuid']);
    return { rank: rank!, startsAt: startsAt!, id: id! };
  }

  private upcomingAfter(after: string | null | undefined) {
    if (!after) return null;
    const [startsAt, id] = decodeCursor(UPCOMING_CURSOR, after, ['timestamp', 'uuid']);
    return { startsAt: startsAt!, id: id! };
  }

  private toView(em: EntityManager, row: EventRow): EventView {
    const event = this.catalog.remember(em.map(Event, row));
    return { event, available: this.stock.fresh(event.id) ?? Number(row.available) };
  }

  private async pgAvailable(em: EntityManager, eventId: string): Promise<number> {
    const stock = await em.findOne(Stock, { eventId });
    return stock?.available ?? 0;
  }
}
