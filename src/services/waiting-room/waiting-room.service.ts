import { Repeater } from '@repeaterjs/repeater';
import type { RequestContext } from '../../context.js';
import { signedIn } from '../../context.js';
import { ConflictError, NotFoundError } from '../../errors.js';
import type { Database } from '../../infra/database.js';
import type { LiveBus } from '../../infra/live-bus.js';
import type { Logger } from '../../logger.js';
import type { EventCatalog } from '../events/event-catalog.js';
import type { LiveTopics } from '../messages/live-topics.js';
import { isUuid } from '../shared/validation.js';
import type { AdmissionTokens } from './admission-token.js';
import { JoinBatcher } from './join-batcher.js';
import { ROOM_TOPIC } from './admission-runner.js';
import type { RoomRecord, WaitingRoomRepository } from './waiting-room.repository.js';
import {
  isAdmitted,
  opensAt,
  passView,
  type PassRecord,
  type PassView,
  type RoomCounter,
} from './waiting-room.rules.js';

/** A pass as the API gives it: the view, and the signed admission while it is ADMITTED. */
export type QueuePassView = PassView & { admissionToken: string | null };

/** A room as the API gives it. */
export interface WaitingRoomView {
  opensAt: Date;
  admitPerSecond: number;
  admissionSeconds: number;
  waiting: number;
  admitted: number;
}

/** On the room topic besides counters: a pass changed outside the runner (a buyer joined again). */
interface PassChanged {
  passChanged: string;
  eventId: string;
}

/** A counter older than this (the runner publishes several a second) is re-read from Postgres. */
const COUNTER_FRESH_MS = 3000;
/** A new place is pushed at most this often; state changes at once. */
const PLACE_PUSH_MS = 1000;
/** A place that moved less than this share of `ahead` waits (up to PLACE_REFRESH_MS): far back, 1% is news, 1 is not. */
const PLACE_STEP = 0.01;
const PLACE_REFRESH_MS = 10_000;
/** Most passes remembered by a gateway (cleared when full, like the event catalog). */
const PASS_CACHE_LIMIT = 500_000;

interface Watcher {
  userId: string;
  pass: PassRecord;
  last: QueuePassView;
  lastPushAt: number;
  push: (view: QueuePassView) => void;
}

export interface WaitingRoomServiceDeps {
  orm: Database;
  repo: WaitingRoomRepository;
  live: LiveBus<LiveTopics>;
  catalog: EventCatalog;
  tokens: AdmissionTokens;
  log: Logger;
  /** Shown as admitPerSecond for a derived-rate room before the runner has measured anything. */
  startRate: number;
}

/**
 * The gateway side of the waiting room. Each gateway keeps the passes it has seen and the last
 * serving counter of each room; from these it answers `queuePass`, pushes `queuePassUpdated` to its
 * own subscribers (one pass of arithmetic per subscriber per counter, no I/O, except one bulk read
 * per room when passes cross the counter) and decides bookTicket's admission with no round trip for
 * buyers it knows (and one indexed read, then remembered, for others).
 */
export class WaitingRoomService {
  private readonly rooms = new Map<string, RoomRecord | null>();
  private readonly loadingRooms = new Map<string, Promise<RoomRecord | null>>();
  private readonly counters = new Map<string, { counter: RoomCounter; seenAt: number }>();
  private readonly passes = new Map<string, PassRecord>();
  private readonly stale = new Set<string>();
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly reloading = new Set<string>();
  private readonly preQueue: JoinBatcher;

  constructor(private readonly deps: WaitingRoomServiceDeps) {
    this.preQueue = new JoinBatcher((eventId, userIds) => deps.repo.joinPreQueue(deps.orm.em.fork(), eventId, userIds));
    deps.live.listenAll(ROOM_TOPIC, (eventId, payload) => this.receive(eventId, payload as RoomCounter | PassChanged));
  }

  /** The event's room, cached for the life of the process (a room's settings never change). */
  async room(eventId: string): Promise<RoomRecord | null> {
    if (this.rooms.has(eventId)) return this.rooms.get(eventId)!;
    let loading = this.loadingRooms.get(eventId);
    if (!loading) {
      loading = this.deps.repo.room(this.deps.orm.em.fork(), eventId).finally(() => this.loadingRooms.delete(eventId));
      this.loadingRooms.set(eventId, loading);
    }
    const room = await loading;
    this.rooms.set(eventId, room);
    return room;
  }

  async roomView(eventId: string): Promise<WaitingRoomView | null> {
    const room = await this.room(eventId);
    if (!room) return null;
    const counter = await this.counter(room);
    return {
      opensAt: opensAt(room.saleStartsAt, room.opensMinutesBefore),
      admitPerSecond: Math.round(counter.rate),
      admissionSeconds: room.admissionSeconds,
      waiting: counter.waiting,
      admitted: counter.admitted,
    };
  }

  async join(ctx: RequestContext, eventId: string): Promise<QueuePassView> {
    const user = signedIn(ctx);
    const room = await this.requireRoom(eventId);
    const now = Date.now();
    const opens = opensAt(room.saleStartsAt, room.opensMinutesBefore);
    if (now < opens.getTime()) {
      throw new ConflictError(`The waiting room opens at ${opens.toISOString()}`, { opensAt: opens.toISOString() });
    }
    if (now >= room.startsAt.getTime()) throw new ConflictError('The sale is over');
    const counter = await this.counter(room);
    const known = this.passes.get(key(eventId, user.id));
    if (known && !this.mayHaveChanged(known, counter) && !isExpired(known, now)) return this.view(known, counter);
    const pass = counter.shuffled
      ? await this.deps.repo.joinBack(ctx.em, eventId, user.id)
      : await this.preQueue.join(eventId, user.id);
    if (known && known.position !== pass.position) {
      this.deps.live.publish(ROOM_TOPIC, eventId, { passChanged: user.id, eventId } satisfies PassChanged);
    }
    this.remember(pass);
    return this.view(pass, counter);
  }

  async get(ctx: RequestContext, eventId: string): Promise<QueuePassView | null> {
    const user = signedIn(ctx);
    const room = isUuid(eventId) ? await this.room(eventId) : null;
    if (!room) return null;
    const counter = await this.counter(room);
    const pass = await this.freshPass(room, user.id, counter);
    return pass ? this.view(pass, counter) : null;
  }

  /**
   * bookTicket's check: true when the event has a room and the buyer holds no valid admission.
   * With the pass's `admissionToken`, one HMAC; otherwise the pass this gateway knows, read once.
   */
  async refuses(userId: string, eventId: string, admissionToken: string | null | undefined): Promise<boolean> {
    const room = this.rooms.has(eventId) ? this.rooms.get(eventId)! : await this.room(eventId);
    if (!room) return false;
    const now = Date.now();
    if (admissionToken) return !this.deps.tokens.verify(admissionToken, userId, eventId, now);
    const pass = await this.freshPass(room, userId, await this.counter(room));
    return !isAdmitted(pass, now);
  }

  /** The pass now, then every change of its state, and its place at most once a second. */
  updates(ctx: RequestContext, eventId: string): AsyncIterableIterator<QueuePassView> {
    const user = signedIn(ctx);
    return new Repeater<QueuePassView>(async (push, stop) => {
      const room = await this.requireRoom(eventId);
      const pass = await this.deps.repo.pass(ctx.em, eventId, user.id);
      if (!pass) throw new NotFoundError('No pass for this event: join the waiting room first');
      this.remember(pass);
      const first = this.view(pass, await this.counter(room));
      const watcher: Watcher = {
        userId: user.id,
        pass,
        last: first,
        lastPushAt: Date.now(),
        push: (v) => void push(v),
      };
      let set = this.watchers.get(eventId);
      if (!set) this.watchers.set(eventId, (set = new Set()));
      set.add(watcher);
      try {
        await push(first);
        await stop;
      } finally {
        set.delete(watcher);
        if (set.size === 0) this.watchers.delete(eventId);
      }
    });
  }

  /** `queuePassUpdated` subscribers in this process. */
  watcherCount(): number {
    let n = 0;
    for (const set of this.watchers.values()) n += set.size;
    return n;
  }

  private async requireRoom(eventId: string): Promise<RoomRecord> {
    const room = isUuid(eventId) ? await this.room(eventId) : null;
    if (room) return room;
    const event = isUuid(eventId) ? await this.deps.catalog.get(eventId) : null;
    if (!event) throw new NotFoundError('eventId: no such event');
    throw new ConflictError('This event has no waiting room: book it directly');
  }

  /** The last counter heard, or (none for a while) one from Postgres' room row. */
  private async counter(room: RoomRecord): Promise<RoomCounter> {
    const heard = this.counters.get(room.eventId);
    if (heard && Date.now() - heard.seenAt < COUNTER_FRESH_MS) return heard.counter;
    const em = this.deps.orm.em.fork();
    const [row, counts] = await Promise.all([
      this.deps.repo.room(em, room.eventId),
      this.deps.repo.counts(em, room.eventId),
    ]);
    const current = row ?? room;
    const counter: RoomCounter = {
      eventId: room.eventId,
      shuffled: current.shuffled,
      closed: current.closed,
      admittedThrough: current.admittedThrough,
      lastPosition: current.lastPosition,
      rate: current.admitPerSecond ?? current.currentRate ?? this.deps.startRate,
      waiting: counts.waiting,
      admitted: counts.admitted,
      at: new Date().toISOString(),
    };
    this.counters.set(room.eventId, { counter, seenAt: Date.now() });
    return counter;
  }

  /** The buyer's pass: remembered, unless the counter may have moved it; else read (and remembered). */
  private async freshPass(room: RoomRecord, userId: string, counter: RoomCounter): Promise<PassRecord | null> {
    const known = this.passes.get(key(room.eventId, userId));
    if (known && !this.mayHaveChanged(known, counter)) return known;
    const pass = await this.deps.repo.pass(this.deps.orm.em.fork(), room.eventId, userId);
    if (pass) this.remember(pass);
    return pass;
  }

  /** Whether Postgres may hold a newer version of the pass than this one, given the counter. */
  private mayHaveChanged(pass: PassRecord, counter: RoomCounter): boolean {
    if (this.stale.has(key(pass.eventId, pass.userId))) return true;
    if (pass.position === null) return counter.shuffled;
    return !pass.admitted && pass.position <= counter.admittedThrough;
  }

  private remember(pass: PassRecord): void {
    if (this.passes.size >= PASS_CACHE_LIMIT) this.passes.clear();
    const k = key(pass.eventId, pass.userId);
    this.passes.set(k, pass);
    this.stale.delete(k);
  }

  private view(pass: PassRecord, counter: RoomCounter | null): QueuePassView {
    const view = passView(pass, counter, Date.now());
    const admissionToken =
      view.state === 'ADMITTED' && view.admittedUntil
        ? this.deps.tokens.issue(pass.userId, pass.eventId, view.admittedUntil)
        : null;
    return { ...view, admissionToken };
  }

  private receive(eventId: string, message: RoomCounter | PassChanged): void {
    if ('passChanged' in message) {
      this.stale.add(key(eventId, message.passChanged));
      this.update(eventId);
      return;
    }
    const heard = this.counters.get(eventId);
    // Counters only move forward; an older one arriving late is dropped.
    if (heard && heard.counter.at > message.at) return;
    this.counters.set(eventId, { counter: message, seenAt: Date.now() });
    this.update(eventId);
  }

  /** Recomputes every local subscriber of the room; passes that may have moved are re-read in one query. */
  private update(eventId: string): void {
    const set = this.watchers.get(eventId);
    const counter = this.counters.get(eventId)?.counter;
    if (!set?.size || !counter) return;
    const reload: Watcher[] = [];
    for (const w of set) {
      if (this.mayHaveChanged(w.pass, counter)) reload.push(w);
      else this.offer(w, this.view(w.pass, counter));
    }
    if (reload.length === 0 || this.reloading.has(eventId)) return;
    this.reloading.add(eventId);
    void this.deps.repo
      .passes(
        this.deps.orm.em.fork(),
        eventId,
        reload.map((w) => w.userId),
      )
      .then((passes) => {
        const byUser = new Map(passes.map((p) => [p.userId, p]));
        const latest = this.counters.get(eventId)?.counter ?? counter;
        for (const w of reload) {
          const pass = byUser.get(w.userId);
          if (!pass) continue;
          this.remember(pass);
          w.pass = pass;
          this.offer(w, this.view(pass, latest));
        }
      })
      .catch((err: unknown) =>
        this.deps.log.warn({ err, eventId }, 'could not re-read queue passes; next counter retries'),
      )
      .finally(() => this.reloading.delete(eventId));
  }

  /**
   * Pushes a state change at once; a new place at most once a second, and only once it moved by
   * 1% of what is ahead (at least one place) or 10 s have passed: a buyer 50,000 back is told every
   * 500 places, not every place, which keeps pushes per second well below one per waiting buyer.
   */
  private offer(w: Watcher, view: QueuePassView): void {
    const now = Date.now();
    const stateChanged =
      view.state !== w.last.state || view.admittedUntil?.getTime() !== w.last.admittedUntil?.getTime();
    const since = now - w.lastPushAt;
    const moved = Math.abs((w.last.ahead ?? 0) - (view.ahead ?? 0));
    const placeNews =
      view.position !== w.last.position ||
      (moved > 0 && (moved >= Math.max(1, (w.last.ahead ?? 0) * PLACE_STEP) || since >= PLACE_REFRESH_MS));
    if (!stateChanged && !(placeNews && since >= PLACE_PUSH_MS)) return;
    w.last = view;
    w.lastPushAt = now;
    w.push(view);
  }
}

function key(eventId: string, userId: string): string {
  return `${eventId}:${userId}`;
}

function isExpired(pass: PassRecord, nowMs: number): boolean {
  return pass.admitted && !!pass.admittedUntil && pass.admittedUntil.getTime() <= nowMs;
}
