import type { Database, EntityManager } from '../../infra/database.js';
import type { LiveBus } from '../../infra/live-bus.js';
import type { Logger } from '../../logger.js';
import type { LiveTopics } from '../messages/live-topics.js';
import type { WaitingRoomMetrics } from './waiting-room.metrics.js';
import type { RoomRecord, WaitingRoomRepository } from './waiting-room.repository.js';
import {
  cryptoRandom,
  nextRate,
  seededRandom,
  shuffle,
  type Random,
  type RateLimits,
  type RoomCounter,
} from './waiting-room.rules.js';

/** The live-bus topic of room counters (key: event id). */
export const ROOM_TOPIC = 'waitingRoom';
/** How far back the pipeline's decisions are measured for a derived rate. */
const MEASURE_SECONDS = 2;
/** The derived rate is reconsidered this often. */
const RATE_EVERY_MS = 1000;
/** Pass counts (a count over the room's passes) at most this often. */
const COUNT_EVERY_MS = 1000;

export interface AdmissionRunnerDeps {
  orm: Database;
  repo: WaitingRoomRepository;
  live: LiveBus<LiveTopics>;
  metrics: WaitingRoomMetrics;
  log: Logger;
  rates: RateLimits;
  /** Fixes the pre-queue shuffle (tests); unset, each shuffle uses crypto randomness. */
  shuffleSeed?: number;
}

/**
 * One round of admission for every open room: the fair start (shuffle the pre-queue when the sale
 * opens), late joiners to the back, closing at sell-out and reopening when tickets come back,
 * advancing the serving counter at the room's rate, and publishing each room's counter so every
 * gateway can update its own subscribers. Run by one process at a time (a lock around the round);
 * every step is conditional in Postgres anyway, so an overlap could not admit twice.
 */
export class AdmissionRunner {
  private readonly lastRateAt = new Map<string, number>();
  private readonly lastCountAt = new Map<string, number>();
  private readonly counts = new Map<string, { waiting: number; admitted: number }>();

  constructor(private readonly deps: AdmissionRunnerDeps) {}

  async round(): Promise<void> {
    const em = this.deps.orm.em.fork();
    const rooms = await this.deps.repo.activeRooms(em);
    for (const room of rooms) {
      try {
        await this.advance(em, room);
      } catch (err) {
        this.deps.log.warn({ err, eventId: room.eventId }, 'waiting room round failed; retried next round');
      }
    }
  }

  private async advance(em: EntityManager, initial: RoomRecord): Promise<void> {
    const { repo, metrics } = this.deps;
    let room = initial;
    const id = room.eventId;
    const { available, now } = await repo.stockAndNow(em, id);
    if (now >= room.saleStartsAt) {
      if (!room.shuffled) {
        const placed = await repo.shuffle(em, id, (ids) => shuffle(ids, this.random()));
        this.deps.log.info({ eventId: id, placed }, 'waiting room: pre-queue shuffled at the sale start');
        room = (await repo.room(em, id))!;
      } else if ((await repo.placeLateJoiners(em, id)) > 0) {
        room = (await repo.room(em, id))!;
      }
      const soldOut = available <= 0;
      if (soldOut !== room.closed) {
        await repo.setClosed(em, id, soldOut);
        this.deps.log.info({ eventId: id }, soldOut ? 'waiting room closed: sold out' : 'waiting room reopened');
        room = (await repo.room(em, id))!;
      }
      const rate = await this.rate(em, room, now.getTime());
      if (!room.closed && room.admittedThrough < room.lastPosition && room.admissionTickAt) {
        const due = Math.floor(((now.getTime() - room.admissionTickAt.getTime()) / 1000) * rate);
        if (due > 0) {
          const done = await repo.admit(em, room, due, rate);
          if (done) {
            room = { ...room, admittedThrough: done.through };
            metrics.admissions.inc(done.waitedSeconds.length);
            for (const s of done.waitedSeconds) metrics.waited.observe(s);
            this.lastCountAt.delete(id);
          }
        }
      }
      metrics.rate.set({ event: id }, rate);
      this.publish(room, rate, await this.passCounts(em, id, now.getTime()));
    } else {
      this.publish(room, room.admitPerSecond ?? this.deps.rates.start, await this.passCounts(em, id, now.getTime()));
    }
    metrics.closed.set({ event: id }, room.closed ? 1 : 0);
  }

  private publish(room: RoomRecord, rate: number, counts: { waiting: number; admitted: number }): void {
    const counter: RoomCounter = {
      eventId: room.eventId,
      shuffled: room.shuffled,
      closed: room.closed,
      admittedThrough: room.admittedThrough,
      lastPosition: room.lastPosition,
      rate,
      waiting: counts.waiting,
      admitted: counts.admitted,
      at: new Date().toISOString(),
    };
    this.deps.live.publish(ROOM_TOPIC, room.eventId, counter);
  }

  /** The room's admitPerSecond, or the derived rate, reconsidered once a second. */
  private async rate(em: EntityManager, room: RoomRecord, nowMs: number): Promise<number> {
    if (room.admitPerSecond !== null) return room.admitPerSecond;
    const current = room.currentRate ?? this.deps.rates.start;
    if (nowMs - (this.lastRateAt.get(room.eventId) ?? 0) < RATE_EVERY_MS) return current;
    this.lastRateAt.set(room.eventId, nowMs);
    const measured = await this.deps.repo.recentDecisions(em, room.eventId, MEASURE_SECONDS);
    const rate = nextRate(
      current,
      { decisionsPerSecond: measured.count / MEASURE_SECONDS, p99Ms: measured.count > 0 ? measured.p99Ms : null },
      this.deps.rates,
    );
    if (rate !== room.currentRate) await this.deps.repo.setRate(em, room.eventId, rate);
    return rate;
  }

  private async passCounts(em: EntityManager, eventId: string, nowMs: number) {
    const known = this.counts.get(eventId);
    if (known && nowMs - (this.lastCountAt.get(eventId) ?? 0) < COUNT_EVERY_MS) return known;
    const counts = await this.deps.repo.counts(em, eventId);
    this.lastCountAt.set(eventId, nowMs);
    this.counts.set(eventId, counts);
    const { metrics } = this.deps;
    metrics.waiting.set({ event: eventId }, counts.waiting);
    metrics.admitted.set({ event: eventId }, counts.admitted);
    metrics.expired.set({ event: eventId }, counts.expired);
    return counts;
  }

  private random(): Random {
    if (this.deps.shuffleSeed !== undefined) return seededRandom(this.deps.shuffleSeed);
    return cryptoRandom();
  }
}
