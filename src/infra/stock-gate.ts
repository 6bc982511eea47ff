import { redisKeys, type Redis } from './redis.js';

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

const DAY_SECONDS = 86_400;

// KEYS: stock, held, decided, inflight, inflightQty. ARGV: maxPerUser, ttl, then (bookingId, userId, qty)*.
// Returns one entry per attempt: 'N' (reserved now), 'R' (reserved by an earlier call), 'X:<reason>'
// (rejected), or {'NOSTOCK'} when the event's stock is not loaded.
const RESERVE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'NOSTOCK'} end
local stock = tonumber(redis.call('GET', KEYS[1]))
local max = tonumber(ARGV[1])
local out = {}
local taken = 0
for i = 3, #ARGV, 3 do
  local b, u, q = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local d = redis.call('HGET', KEYS[3], b)
  if not d then
    local held = tonumber(redis.call('HGET', KEYS[2], u) or '0')
    if held + q > max then d = 'X:LIMIT_EXCEEDED'
    elseif stock < q then d = 'X:SOLD_OUT'
    else
      stock = stock - q
      taken = taken + q
      redis.call('HINCRBY', KEYS[2], u, q)
      redis.call('HSET', KEYS[4], b, q)
      d = 'N'
    end
    redis.call('HSET', KEYS[3], b, d == 'N' and 'R' or d)
  end
  out[#out + 1] = d
end
if taken > 0 then
  redis.call('SET', KEYS[1], stock)
  redis.call('INCRBY', KEYS[5], taken)
end
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[2]))
return out
`;

// After the Postgres transaction. KEYS: stock, held, decided, inflight, inflightQty, version, loaded.
// ARGV: available, version, then (bookingId, userId, qty, outcome)* where outcome 'N' means newly
// committed by this transaction, 'C' already in Postgres before it (a redelivery: counted when it was
// reserved, never again), and anything else is the decision to remember for an attempt Postgres did
// not take.
const SETTLE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local ver = tonumber(ARGV[2])
local newer = ver > tonumber(redis.call('GET', KEYS[6]) or '-1')
local removed = 0
for i = 3, #ARGV, 4 do
  local b, u, q, o = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local wasInFlight = redis.call('HDEL', KEYS[4], b) == 1
  if wasInFlight then removed = removed + q end
  if o == 'N' then
    -- Reserved before Redis lost its data and committed after the snapshot it reloaded: count it now.
    if not wasInFlight and ver > tonumber(redis.call('GET', KEYS[7]) or '-1') then
      redis.call('HINCRBY', KEYS[2], u, q)
    end
  elseif o ~= 'C' then
    if wasInFlight and redis.call('HINCRBY', KEYS[2], u, -q) <= 0 then redis.call('HDEL', KEYS[2], u) end
    redis.call('HSET', KEYS[3], b, o)
  end
end
if removed > 0 then redis.call('DECRBY', KEYS[5], removed) end
if newer then
  redis.call('SET', KEYS[6], ver)
  redis.call('SET', KEYS[1], tonumber(ARGV[1]) - tonumber(redis.call('GET', KEYS[5]) or '0'))
elseif removed > 0 then
  -- A newer Postgres state was applied while these were still counted in flight.
  redis.call('INCRBY', KEYS[1], removed)
end
return tonumber(redis.call('GET', KEYS[1]))
`;

// Tickets of an order left (or came back to) Postgres stock. KEYS: stock, held, inflightQty, version, marks.
// ARGV: available, version, userId, delta (negative: tickets given back), mark (once per order and direction).
const ADJUST = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('SADD', KEYS[5], ARGV[5]) == 1 then
  if redis.call('HINCRBY', KEYS[2], ARGV[3], tonumber(ARGV[4])) <= 0 then redis.call('HDEL', KEYS[2], ARGV[3]) end
end
redis.call('EXPIRE', KEYS[5], ${DAY_SECONDS * 7})
local ver = tonumber(ARGV[2])
if ver > tonumber(redis.call('GET', KEYS[4]) or '-1') then
  local inflight = tonumber(redis.call('GET', KEYS[3]) or '0')
  redis.call('SET', KEYS[4], ver)
  redis.call('SET', KEYS[1], tonumber(ARGV[1]) - inflight)
end
return tonumber(redis.call('GET', KEYS[1]))
`;

// Loads an event from a Postgres snapshot when Redis has nothing (first sale, or Redis lost its data).
// KEYS: stock, held, inflightQty, version, loaded. ARGV: available, version, then (userId, held)*.
// `loaded` is the version whose buyers `held` reflects: a commit newer than it is not counted yet.
const LOAD = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[4], ARGV[2])
redis.call('SET', KEYS[5], ARGV[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
return 1
`;

// Makes Redis equal to a Postgres snapshot, but only while nothing is in flight and no newer
// Postgres state has been applied meanwhile. KEYS: stock, held, inflightQty, version, loaded. ARGV as LOAD.
const RECONCILE = `
if tonumber(redis.call('GET', KEYS[3]) or '0') ~= 0 then return 0 end
if tonumber(redis.call('GET', KEYS[4]) or '-1') > tonumber(ARGV[2]) then return 0 end
local before = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[4], ARGV[2])
redis.call('SET', KEYS[5], ARGV[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
if before == ARGV[1] then return 0 end
return 1
`;

// Sets the given buyers' counts to Postgres' (0: the buyer holds nothing), writing only those that
// differ, and only while nothing is in flight and Redis is at exactly the snapshot's version.
// KEYS: held, inflightQty, version, loaded. ARGV: version, then (userId, held)*.
// Returns how many counts it changed, or -1 when Redis moved on (the next sweep looks again).
const REPAIR_HELD = `
if tonumber(redis.call('GET', KEYS[2]) or '0') ~= 0 then return -1 end
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
local fixed = 0
for i = 2, #ARGV, 2 do
  local u, n = ARGV[i], ARGV[i + 1]
  local current = redis.call('HGET', KEYS[1], u)
  if n == '0' then
    if current then redis.call('HDEL', KEYS[1], u); fixed = fixed + 1 end
  elseif current ~= n then
    redis.call('HSET', KEYS[1], u, n)
    fixed = fixed + 1
  end
end
redis.call('SET', KEYS[4], ARGV[1])
return fixed
`;

// Forgets reservations whose Postgres decision was made long ago, so their settle was lost (a Redis
// failover drops the newest writes: Redis Cluster replicates asynchronously). KEYS: inflight, inflightQty.
// ARGV: booking ids. Returns the quantity forgotten; the next reconcile sets stock and buyers from Postgres.
const FORGET = `
local forgotten = 0
for i = 1, #ARGV do
  local q = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if q > 0 then
    redis.call('HDEL', KEYS[1], ARGV[i])
    forgotten = forgotten + q
  end
end
if forgotten > 0 then redis.call('DECRBY', KEYS[2], forgotten) end
return forgotten
`;

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
