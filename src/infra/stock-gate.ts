import { redisKeys, type Redis } from './redis.js';
import { ADJUST, DAY_SECONDS, FORGET, LOAD, RECONCILE, REPAIR_HELD, RESERVE, SETTLE } from './stock-gate.scripts.js';

/**
 * The fast gate in front of Postgres: per event, a Redis copy of the stock and of each buyer's
 * tickets, changed only by Lua scripts (atomic, one round trip for a whole batch of attempts).
 *
 * Redis is never the source of truth. It holds
 *   stock    = Postgres `available` (as of `version`) minus the tickets reserved here whose
 *              Postgres commit is still in flight,
 *   held     = tickets per buyer (orders that hold tickets, plus reservations in flight), each
 *              booking counted once, when reserved (or, after Redis lost it, when first committed),
 *              never again when a committed booking is delivered again,
 *   decided  = the gate's answer per booking id, so a redelivered attempt gets the same answer,
 *   inflight = booking id -> quantity, reserved here and not yet committed (or refused) in Postgres.
 * Every Postgres stock change reports (available, version) back through `settle`, `released` or
 * `retaken`, and the newest version recomputes `stock`, so Redis converges on Postgres at every
 * change, whatever order the reports arrive in and however often they are repeated.
 */

export type GateDecision =
  /** `fresh`: reserved by this call; otherwise an earlier call's reservation, answered again. */
  | { status: 'RESERVED'; fresh: boolean }
  /** SOLD_OUT or LIMIT_EXCEEDED from the gate itself, or the decision Postgres made, remembered. */
  | { status: 'REJECTED'; reason: string };

export interface GateAttempt {
  bookingId: string;
  userId: string;
  quantity: number;
}

/** Postgres' stock row after a change: what Redis recomputes from. */
export interface StockVersion {
  available: number;
  version: number;
}

/** What one Postgres transaction did with attempts the gate reserved (see StockGate.settle). */
export interface SettleOutcome {
  committed?: readonly GateAttempt[];
  confirmed?: readonly GateAttempt[];
  refused?: readonly (GateAttempt & { decision: string })[];
}

export interface StockSnapshot extends StockVersion {
  /** Tickets per buyer in orders that hold tickets. */
  heldByUser: Map<string, number>;
}

/** Buyers compared per REPAIR_HELD call: each call is short, so Redis never stalls on a big event. */
const REPAIR_CHUNK = 500;

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

export class StockGate {
  constructor(
    private readonly redis: Redis,
    private readonly namespace: string,
  ) {
    redis.defineCommand('gateReserve', { numberOfKeys: 5, lua: RESERVE });
    redis.defineCommand('gateSettle', { numberOfKeys: 7, lua: SETTLE });
    redis.defineCommand('gateAdjust', { numberOfKeys: 5, lua: ADJUST });
    redis.defineCommand('gateLoad', { numberOfKeys: 5, lua: LOAD });
    redis.defineCommand('gateReconcile', { numberOfKeys: 5, lua: RECONCILE });
    redis.defineCommand('gateRepairHeld', { numberOfKeys: 4, lua: REPAIR_HELD });
    redis.defineCommand('gateForget', { numberOfKeys: 2, lua: FORGET });
  }

  private keys(eventId: string) {
    const tag = redisKeys(this.namespace).eventTag(eventId);
    return {
      stock: `${tag}:stock`,
      held: `${tag}:held`,
      decided: `${tag}:decided`,
      inflight: `${tag}:inflight`,
      inflightQty: `${tag}:inflightqty`,
      version: `${tag}:version`,
      loaded: `${tag}:loaded`,
      marks: `${tag}:marks`,
    };
  }

  private script(name: string): ScriptFn {
    return (this.redis as unknown as Record<string, ScriptFn>)[name]!.bind(this.redis);
  }

  /** Decides a batch of attempts for one event; null when the event's stock is not loaded yet. */
  async reserve(eventId: string, maxPerUser: number, attempts: readonly GateAttempt[]): Promise<GateDecision[] | null> {
    const k = this.keys(eventId);
    const args: (string | number)[] = [maxPerUser, DAY_SECONDS];
    for (const a of attempts) args.push(a.bookingId, a.userId, a.quantity);
    const out = (await this.script('gateReserve')(
      k.stock,
      k.held,
      k.decided,
      k.inflight,
      k.inflightQty,
      ...args,
    )) as string[];
    if (out[0] === 'NOSTOCK') return null;
    return out.map((d): GateDecision => {
      if (d === 'N' || d === 'R') return { status: 'RESERVED', fresh: d === 'N' };
      return { status: 'REJECTED', reason: d.slice(2) };
    });
  }

  /**
   * Reports the Postgres outcome of attempts the gate reserved: `committed` were inserted by this
   * transaction; `confirmed` were already in Postgres (a redelivery: their tickets are counted once,
   * whatever the version); `refused` were not taken after all (Postgres had fewer tickets, or the
   * booking was already decided otherwise) and carry the decision to remember instead (`X:<reason>`).
   * Returns the Redis stock, or null when Redis has lost the event (the next reservation reloads it).
   */
  async settle(eventId: string, pg: StockVersion, outcome: SettleOutcome): Promise<number | null> {
    const k = this.keys(eventId);
    const args: (string | number)[] = [pg.available, pg.version];
    for (const c of outcome.committed ?? []) args.push(c.bookingId, c.userId, c.quantity, 'N');
    for (const c of outcome.confirmed ?? []) args.push(c.bookingId, c.userId, c.quantity, 'C');
    for (const r of outcome.refused ?? []) args.push(r.bookingId, r.userId, r.quantity, r.decision);
    const result = Number(
      await this.script('gateSettle')(
        k.stock,
        k.held,
        k.decided,
        k.inflight,
        k.inflightQty,
        k.version,
        k.loaded,
        ...args,
      ),
    );
    return result < 0 ? null : result;
  }

  /**
   * An order's tickets went back to Postgres stock (`delta` < 0 for the buyer) or were taken again
   * (`delta` > 0). Idempotent per `mark` (e.g. `release:<orderId>`). Returns the Redis stock, or
   * null when the event is not loaded (the next load reads Postgres anyway).
   */
  async adjust(eventId: string, pg: StockVersion, userId: string, delta: number, mark: string): Promise<number | null> {
    const k = this.keys(eventId);
    const result = Number(
      await this.script('gateAdjust')(
        k.stock,
        k.held,
        k.inflightQty,
        k.version,
        k.marks,
        pg.available,
        pg.version,
        userId,
        delta,
        mark,
      ),
    );
    return result < 0 ? null : result;
  }

  /** Loads the event from Postgres' snapshot if Redis has no stock for it; true when it loaded. */
  async load(eventId: string, snapshot: StockSnapshot): Promise<boolean> {
    const k = this.keys(eventId);
    return (
      (await this.script('gateLoad')(
        k.stock,
        k.held,
        k.inflightQty,
        k.version,
        k.loaded,
        ...snapshotArgs(snapshot),
      )) === 1
    );
  }

  /**
   * Sets Redis to the snapshot if nothing is in flight and it is not older than Redis' state;
   * true when that changed the stock count.
   */
  async reconcile(eventId: string, snapshot: StockSnapshot): Promise<boolean> {
    const k = this.keys(eventId);
    return (
      (await this.script('gateReconcile')(
        k.stock,
        k.held,
        k.inflightQty,
        k.version,
        k.loaded,
        ...snapshotArgs(snapshot),
      )) === 1
    );
  }

  /**
   * What the sweep compares with Postgres before deciding to rebuild an event: a few small reads,
   * where a rebuild rewrites a hash of every buyer. A buyer whose tickets all went back has no
   * field in `held` (the scripts delete it), so `holders` counts the same buyers Postgres does.
   */
  async summary(
    eventId: string,
  ): Promise<{ stock: number | null; version: number | null; inflightQty: number; holders: number }> {
    const k = this.keys(eventId);
    const [[, values], [, holders]] = (await this.redis
      .multi()
      .mget(k.stock, k.version, k.inflightQty)
      .hlen(k.held)
      .exec()) as [[unknown, (string | null)[]], [unknown, number]];
    const [stock, version, inflightQty] = values;
    return {
      stock: stock == null ? null : Number(stock),
      version: version == null ? null : Number(version),
      inflightQty: Number(inflightQty ?? 0),
      holders,
    };
  }

  /**
   * Compares every buyer's count with the snapshot and sets those that differ, in short steps
   * (REPAIR_CHUNK buyers each) that each apply only while nothing is in flight and Redis is at the
   * snapshot's version; buyers Redis counts and Postgres does not are found with HSCAN. Returns how
   * many counts it changed, or null when Redis moved on meanwhile (nothing wrong was written).
   */
  async repairHeld(eventId: string, snapshot: StockSnapshot): Promise<number | null> {
    const k = this.keys(eventId);
    const repair = async (counts: [string, number][]): Promise<number | null> => {
      let fixed = 0;
      for (let i = 0; i < counts.length; i += REPAIR_CHUNK) {
        const args = counts.slice(i, i + REPAIR_CHUNK).flat();
        const n = Number(
          await this.script('gateRepairHeld')(k.held, k.inflightQty, k.version, k.loaded, snapshot.version, ...args),
        );
        if (n < 0) return null;
        fixed += n;
      }
      return fixed;
    };
    const fixed = await repair([...snapshot.heldByUser].filter(([, n]) => n > 0));
    if (fixed === null) return null;
    const holders = [...snapshot.heldByUser.values()].filter((n) => n > 0).length;
    if ((await this.redis.hlen(k.held)) <= holders) return fixed;
    const strangers: [string, number][] = [];
    let cursor = '0';
    do {
      const [next, fields] = await this.redis.hscan(k.held, cursor, 'COUNT', REPAIR_CHUNK);
      for (let i = 0; i < fields.length; i += 2) {
        if ((snapshot.heldByUser.get(fields[i]!) ?? 0) === 0) strangers.push([fields[i]!, 0]);
      }
      cursor = next;
    } while (cursor !== '0');
    const removed = await repair(strangers);
    return removed === null ? null : fixed + removed;
  }

  /** Booking ids reserved here and not yet settled (normally a batch or two in flight). */
  async inflightIds(eventId: string): Promise<string[]> {
    return this.redis.hkeys(this.keys(eventId).inflight);
  }

  /** Forgets in-flight reservations Postgres decided long ago (their settle was lost); returns the tickets forgotten. */
  async forgetSettled(eventId: string, bookingIds: readonly string[]): Promise<number> {
    if (bookingIds.length === 0) return 0;
    const k = this.keys(eventId);
    return Number(await this.script('gateForget')(k.inflight, k.inflightQty, ...bookingIds));
  }

  /** The Redis stock, or null when not loaded. */
  async stock(eventId: string): Promise<number | null> {
    const value = await this.redis.get(this.keys(eventId).stock);
    return value === null ? null : Number(value);
  }

  /** For tests and reconciliation: everything the gate holds for an event. */
  async inspect(eventId: string) {
    const k = this.keys(eventId);
    const [stock, held, inflightQty, version] = await Promise.all([
      this.redis.get(k.stock),
      this.redis.hgetall(k.held),
      this.redis.get(k.inflightQty),
      this.redis.get(k.version),
    ]);
    return {
      stock: stock === null ? null : Number(stock),
      held: Object.fromEntries(Object.entries(held).map(([u, n]) => [u, Number(n)])),
      inflightQty: Number(inflightQty ?? 0),
      version: version === null ? null : Number(version),
    };
  }
}

function snapshotArgs(snapshot: StockSnapshot): (string | number)[] {
  const args: (string | number)[] = [snapshot.available, snapshot.version];
  for (const [userId, held] of snapshot.heldByUser) if (held > 0) args.push(userId, held);
  return args;
}
